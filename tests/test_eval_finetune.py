"""End-to-end runs of FE, FT1 and FT2 on a toy NSynth set with a tiny random model; resume; bad input."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from transformers import Wav2Vec2Model

from eval_harness import finetune, training
from eval_harness.baselines import SampleRateError, load_encoder
from eval_harness.finetune import Classifier, FinetuneConfig, run_finetune
from eval_harness.nsynth import NSynthError
from test_eval_toydata import write_toy_nsynth

TINY = "random:tiny"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_nsynth(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def toy_small(tmp_path_factory):
    """4 / 2 / 2 notes: enough for the FT paths, cheap enough to train several epochs in a test."""
    return write_toy_nsynth(tmp_path_factory.mktemp("toy_small"), {"train": 4, "valid": 2, "test": 2})


def _cfg(toy, mode: str, task: str = "instrument", **kw) -> FinetuneConfig:
    return FinetuneConfig(task=task, mode=mode, model=TINY, data=str(toy), batch_size=4,
                          max_epochs=kw.pop("max_epochs", 2), **kw)


def test_fe_end_to_end_then_cache_hit_then_finished_run(tmp_path, toy):
    cache = tmp_path / "cache"
    rec = run_finetune(_cfg(toy, "fe", "pitch"), tmp_path / "run1", cache, progress=False)
    assert {"accuracy", "chroma_accuracy", "macro_f1", "command", "seed"} <= set(rec)
    assert 0 <= rec["accuracy"] <= rec["chroma_accuracy"] <= 1
    assert (rec["n_train"], rec["n_valid"], rec["n_test"]) == (12, 6, 6) and rec["cache_hits"] == 0
    assert rec["command"].startswith("w2v-music finetune --task pitch --mode fe --model random:tiny")
    assert (tmp_path / "run1" / "confusion.png").stat().st_size > 1000
    assert json.loads((tmp_path / "run1" / "result.json").read_text()) == rec
    other = run_finetune(_cfg(toy, "fe", "instrument"), tmp_path / "run2", cache, progress=False)
    assert other["cache_hits"] == 3  # train, valid, test embeddings reused across tasks
    assert run_finetune(_cfg(toy, "fe", "pitch"), tmp_path / "run1", cache, progress=False) == rec


def test_fe_all_layers_writes_a_curve(tmp_path, toy):
    rec = run_finetune(_cfg(toy, "fe", layer="all"), tmp_path / "run", tmp_path / "cache", progress=False)
    assert [r["layer"] for r in rec["per_layer"]] == [0, 1, 2]
    assert len((tmp_path / "run" / "layers.csv").read_text().splitlines()) == 4
    assert (tmp_path / "run" / "layers.png").is_file()


@pytest.mark.parametrize("mode", ["ft1", "ft2"])
def test_ft_modes_end_to_end(tmp_path, toy_small, mode):
    rec = run_finetune(_cfg(toy_small, mode, max_epochs=1), tmp_path / mode, progress=False)
    assert rec["mode"] == mode and rec["epochs_run"] == 1 and 0 <= rec["accuracy"] <= 1
    assert (tmp_path / mode / "state.pt").is_file()


def test_ft2_freezes_only_the_cnn(tiny_config):
    torch.manual_seed(0)
    for mode, cnn_moves in (("ft2", False), ("ft1", True)):
        model = Classifier(Wav2Vec2Model(tiny_config), normalize=True, num_classes=11)
        model.set_mode(mode)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        opt = model.optimizer(lr_backbone=1e-2, lr_head=1e-2)
        loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 4000)), torch.tensor([1, 2]))
        loss.backward()
        opt.step()
        after = model.state_dict()
        moved = lambda prefix: any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))  # noqa
        assert moved("backbone.feature_extractor.") is cnn_moves
        assert moved("backbone.encoder.layers.") and moved("backbone.feature_projection.") and moved("head.")
        assert [g["lr"] for g in opt.param_groups] == [1e-2, 1e-2]


def test_interrupted_ft_run_resumes_to_the_same_result(tmp_path, toy_small, monkeypatch):
    cfg = _cfg(toy_small, "ft1", max_epochs=3)
    straight = run_finetune(cfg, tmp_path / "straight", progress=False)
    real_save, calls = training.save_checkpoint_atomic, []

    def save_then_crash(obj, path):
        real_save(obj, path)
        calls.append(obj["epoch"])
        if len(calls) == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(training, "save_checkpoint_atomic", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(cfg, tmp_path / "cut", progress=False)
    monkeypatch.setattr(training, "save_checkpoint_atomic", real_save)
    assert not (tmp_path / "cut" / "result.json").exists()
    resumed = run_finetune(cfg, tmp_path / "cut", progress=False)
    for key in ("accuracy", "macro_f1", "best_epoch", "epochs_run"):
        assert resumed[key] == straight[key]


def test_bad_input_is_named(tmp_path, toy, tiny_hf_dir):
    with pytest.raises(NSynthError, match="make-nsynth"):
        run_finetune(_cfg(tmp_path / "nowhere", "fe"), tmp_path / "r0", progress=False)
    run_dir = tmp_path / "r1"
    run_finetune(_cfg(toy, "fe", max_epochs=1), run_dir, tmp_path / "c", progress=False)
    with pytest.raises(ValueError, match="max_epochs differ"):
        run_finetune(_cfg(toy, "fe", max_epochs=3), run_dir, tmp_path / "c", progress=False)
    with pytest.raises(ValueError, match="unknown mode"):
        _cfg(toy, "ft3")
    with pytest.raises(ValueError, match="FE only"):
        _cfg(toy, "ft1", layer="all")
    odd = tmp_path / "hf8k"
    shutil.copytree(tiny_hf_dir, odd)
    pre = json.loads((odd / "preprocessor_config.json").read_text())
    (odd / "preprocessor_config.json").write_text(json.dumps({**pre, "sampling_rate": 8000}))
    with pytest.raises(SampleRateError, match="8000 Hz"):
        load_encoder(str(odd))


def test_command_lists_non_defaults(toy):
    cfg = _cfg(toy, "ft2", max_epochs=5, precision="bf16")
    cmd = finetune.finetune_command(cfg, "runs/x")
    assert "--mode ft2" in cmd and "--max-epochs 5" in cmd and "--precision bf16" in cmd and "--patience" not in cmd
