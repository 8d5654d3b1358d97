"""End-to-end runs of FE, FT1 and FT2 on a toy NSynth set with a tiny random model; resume; bad input."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from transformers import Wav2Vec2Model

from eval_harness import finetune, training
from eval_harness.models import SampleRateError, load_encoder
from eval_harness.finetune import Classifier, FinetuneConfig, run_finetune
from eval_harness.nsynth import NSynthError
from toy_nsynth import write_toy_nsynth

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
    assert all(r["ci_low"] <= r["accuracy"] <= r["ci_high"] for r in rec["per_layer"])
    assert len((tmp_path / "run" / "layers.csv").read_text().splitlines()) == 4
    assert (tmp_path / "run" / "layers.png").is_file()


def test_fe_record_keeps_predictions_and_a_bootstrap_interval(tmp_path, toy, one_thread):
    rec = run_finetune(_cfg(toy, "fe", "instrument"), tmp_path / "run", tmp_path / "cache", progress=False)
    assert rec["ci_low"] <= rec["accuracy"] <= rec["ci_high"] and rec["ci"]["resample"] == "instruments"
    pred = rec["predictions"]
    assert len(pred["note_str"]) == len(pred["y_true"]) == len(pred["y_pred"][0]) == rec["n_test"] == 6
    assert rec["accuracy"] == sum(a == b for a, b in zip(pred["y_true"], pred["y_pred"][0])) / 6
    assert (rec["probe"], rec["layer_choice"], rec["standardize"], rec["seeds"]) == ("linear", "last", False, [0])


def test_fe_mlp_weighted_with_seeds(tmp_path, toy, one_thread):
    cfg = _cfg(toy, "fe", "pitch", probe="mlp", layer="weighted", seeds=2, standardize=True)
    rec = run_finetune(cfg, tmp_path / "run", tmp_path / "cache", progress=False)
    assert rec["seeds"] == [0, 1] and len(rec["predictions"]["y_pred"]) == 2 and rec["standardize"]
    assert len(rec["accuracy_per_seed"]) == 2 and rec["accuracy_sd"] >= 0
    assert rec["accuracy"] == pytest.approx(sum(rec["accuracy_per_seed"]) / 2)
    assert rec["layer"] == "weighted" and len(rec["layer_weights"]) == 3
    saved = json.loads((tmp_path / "run" / "layer_weights.json").read_text())
    assert saved["weights"] == rec["layer_weights"] and len(saved["per_seed"]) == 2
    assert sum(saved["per_seed"][0]) == pytest.approx(1.0, abs=1e-5)
    assert (tmp_path / "run" / "layer_weights.png").stat().st_size > 1000
    assert {"state-weighted.pt", "state-weighted-seed1.pt"} <= {p.name for p in (tmp_path / "run").iterdir()}
    assert "--probe mlp --standardize --seeds 2" in rec["command"] and "--layer weighted" in rec["command"]


def test_pitch88_drops_notes_outside_the_piano_range(tmp_path, toy, one_thread):
    data = tmp_path / "toy88"
    shutil.copytree(toy, data)
    path = data / "nsynth-test" / "examples.json"
    examples = json.loads(path.read_text())
    key = sorted(examples)[0]
    examples[key]["pitch"] = 115  # outside MIDI 21..108 (inside NSynth's 9..120)
    path.write_text(json.dumps(examples))
    data_112 = finetune.load_run_data(_cfg(data, "fe", "pitch"))
    data_88 = finetune.load_run_data(_cfg(data, "fe", "pitch88"))
    assert len(data_112.keep["test"]) == 6 and len(data_88.keep["test"]) == 5 and data_88.dropped == 1
    assert key not in {n.note_str for n in data_88.notes("test")}
    assert set(data_88.labels["train"]) <= {48 - 21, 55 - 21, 60 - 21, 67 - 21}
    rec = run_finetune(_cfg(data, "fe", "pitch88"), tmp_path / "run", tmp_path / "cache", progress=False)
    assert rec["n_test"] == 5 and rec["n_dropped"] == 1 and "chroma_accuracy" in rec
    again = run_finetune(_cfg(data, "fe", "pitch"), tmp_path / "run112", tmp_path / "cache", progress=False)
    assert again["cache_hits"] == 3  # pitch88 extracted every loaded note: the 112-class task reuses them


def test_probe_options_are_fe_only():
    for kw in ({"probe": "mlp"}, {"layer": "weighted"}, {"standardize": True}, {"seeds": 2}):
        with pytest.raises(ValueError, match="FE only"):
            FinetuneConfig(task="pitch", mode="ft1", model=TINY, data="x", **kw)
    with pytest.raises(ValueError, match="unknown probe"):
        FinetuneConfig(task="pitch", mode="fe", model=TINY, data="x", probe="svm")


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


def test_a_time_budget_stops_at_an_epoch_end_and_the_run_continues(tmp_path, toy_small):
    """--max-minutes: tested on the best epoch so far, marked, and continued by the same call without it."""
    cfg = _cfg(toy_small, "ft1", max_epochs=3)
    straight = run_finetune(cfg, tmp_path / "straight", progress=False)
    assert straight["stopped_by"] in ("early", "max_epochs") and straight["epochs_run"] == 3
    capped = run_finetune(cfg, tmp_path / "capped", progress=False, max_minutes=1e-6)
    assert capped["stopped_by"] == "time" and capped["epochs_run"] == 1 and 0 <= capped["accuracy"] <= 1
    resumed = run_finetune(cfg, tmp_path / "capped", progress=False)  # not finished: continues from state.pt
    for key in ("accuracy", "macro_f1", "best_epoch", "epochs_run", "stopped_by"):
        assert resumed[key] == straight[key]
    with pytest.raises(ValueError, match="FT1/FT2"):
        run_finetune(_cfg(toy_small, "fe"), tmp_path / "fe", progress=False, max_minutes=1.0)


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


def test_a_run_removes_temporaries_left_by_a_killed_write(tmp_path, toy_small):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    leftovers = [run_dir / ".state.pt.k1ll3d__.tmp", run_dir / ".state-layer2.pt.x8y9z0ab.tmp"]
    for path in leftovers:  # SIGKILL between mkstemp and the rename leaves 0-byte files
        path.write_bytes(b"")
    run_finetune(_cfg(toy_small, "fe", max_epochs=1), run_dir, tmp_path / "cache", progress=False)
    assert not any(p.exists() for p in leftovers)
    assert not list(run_dir.glob(".*"))
