"""End to end on the tiny config: a run, exact resume, checkpoint contract, export round trip, CLI."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import pytest
import soundfile as sf
import torch

from pretrain import config as config_lib
from pretrain.export import export
from pretrain.train import METRIC_COLUMNS, run_pretraining

STEPS = 4  # N of "2N straight vs N, stop, resume, N"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    """Six 3 s clips at 44.1 kHz in MusicNet layout, plus one corrupt wav."""
    root = tmp_path_factory.mktemp("audio")
    (root / "train_data").mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(3 * 44100) / 44100
    for i in range(6):
        x = 0.3 * np.sin(2 * np.pi * 110 * 2 ** (i / 4) * t) + 0.02 * rng.standard_normal(len(t))
        sf.write(str(root / "train_data" / f"{i}.wav"), x.astype(np.float32), 44100)
    (root / "train_data" / "corrupt.wav").write_bytes(b"RIFF1234WAVEjunk")
    return root


def _config(tmp_path: Path, *overrides: str) -> config_lib.PretrainConfig:
    return config_lib.resolve("tiny", [f"max_steps={2 * STEPS}", f"manifest_cache={tmp_path / 'cache'}",
                                       "checkpoint_every_steps=100", *overrides])


class _StopAt(pl.Callback):
    """Stop training after ``step`` updates, as an interruption would (the end-of-fit save still runs)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


def _params(ckpt_path: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt_path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def straight_run(audio_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("straight")
    run_pretraining(_config(run, f"keep_every_steps={STEPS}"), [audio_dir], run, progress_bar=False)
    return run


def test_run_writes_checkpoint_config_and_metrics(straight_run):
    ckpt = torch.load(straight_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2 * STEPS
    meta = ckpt["w2v_music"]
    assert meta["format_version"] == 1 and meta["normalize"] is True
    assert meta["hf_config"]["num_codevectors_per_group"] == 8
    assert meta["pretrain_config"]["max_steps"] == 2 * STEPS
    assert all(k.startswith("model.") for k in ckpt["state_dict"])
    assert ckpt["w2v_music_state"]["data"]["unreadable_files"] == 1
    assert (straight_run / "checkpoints" / "config.yaml").is_file()
    assert config_lib.load(str(straight_run / "config.yaml")).max_steps == 2 * STEPS
    with (straight_run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 2 * STEPS + 1))
    assert set(METRIC_COLUMNS) <= set(rows[0])
    for row in rows:
        for column in METRIC_COLUMNS:
            assert np.isfinite(float(row[column])), column
    assert float(rows[0]["temperature"]) == 2.0 and float(rows[-1]["lr"]) < float(rows[1]["lr"])


def test_kept_checkpoints_are_snapshots_of_the_run(straight_run):
    folder = straight_run / "checkpoints"
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["last.ckpt", f"step-{STEPS:07d}.ckpt",
                                                              f"step-{2 * STEPS:07d}.ckpt"]
    middle = torch.load(folder / f"step-{STEPS:07d}.ckpt", map_location="cpu", weights_only=True)
    assert middle["global_step"] == STEPS and "optimizer_states" in middle  # resumable, not weights only
    final = _params(folder / f"step-{2 * STEPS:07d}.ckpt")
    assert all(torch.equal(v, final[k]) for k, v in _params(folder / "last.ckpt").items())
    assert any(not torch.equal(v, final[k]) for k, v in middle["state_dict"].items())


def test_resume_continues_exactly(straight_run, audio_dir, tmp_path):
    run = tmp_path / "resumed"
    run_pretraining(_config(tmp_path), [audio_dir], run, progress_bar=False, callbacks=[_StopAt(STEPS)])
    first = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert first["global_step"] == STEPS
    kept = _params(straight_run / "checkpoints" / f"step-{STEPS:07d}.ckpt")  # the same update of the same run
    for key, value in first["state_dict"].items():
        torch.testing.assert_close(value, kept[key], rtol=0, atol=1e-6, msg=key)
    with pytest.raises(FileExistsError, match="--resume"):
        run_pretraining(_config(tmp_path), [audio_dir], run, progress_bar=False)
    run_pretraining(_config(tmp_path), [audio_dir], run, resume=True, progress_bar=False)
    resumed = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert resumed["global_step"] == 2 * STEPS
    expected = _params(straight_run / "checkpoints" / "last.ckpt")
    for key, value in resumed["state_dict"].items():
        # same data, masks, negatives, dropout and Gumbel noise: equal up to float summation order
        torch.testing.assert_close(value, expected[key], rtol=0, atol=1e-6, msg=key)
    with (run / "metrics.csv").open() as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 2 * STEPS + 1))


def test_export_round_trips_to_transformers_and_load_model(straight_run, tmp_path):
    from transformers import Wav2Vec2ForPreTraining

    out = export(straight_run, tmp_path / "hf")
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "w2v_music_provenance.json",
            "SHA256SUMS"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "preprocessor_config.json").read_text())["do_normalize"] is True
    provenance = json.loads((out / "w2v_music_provenance.json").read_text())
    assert provenance["global_step"] == 2 * STEPS and provenance["data"]["segments"] > 0
    model = Wav2Vec2ForPreTraining.from_pretrained(out)
    state = _params(straight_run / "checkpoints" / "last.ckpt")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state["model." + key], rtol=0, atol=0, msg=key)
    with pytest.raises(FileExistsError):
        export(straight_run, out)
    half = export(straight_run / "checkpoints" / "last.ckpt", tmp_path / "hf16", dtype="float16")
    assert (half / "model.safetensors").stat().st_size < 0.6 * (out / "model.safetensors").stat().st_size
    from hear_w2v_music.checkpoints import load_checkpoint

    for src in (out, straight_run):
        loaded = load_checkpoint(str(src))
        assert loaded.normalize is True and "quantizer" in loaded.heads
        torch.testing.assert_close(loaded.model.project_q.weight, state["model.project_q.weight"])


def test_overrides_are_typed_and_unknown_keys_listed():
    cfg = config_lib.resolve("tiny", ["max_steps=7", "lr=1e-3", "warmup_steps=null", "normalize=false",
                                      "model.layerdrop=0"])
    assert (cfg.max_steps, cfg.lr, cfg.warmup_steps, cfg.normalize) == (7, 1e-3, None, False)
    assert cfg.hf_config().layerdrop == 0
    with pytest.raises(ValueError, match="valid keys.*max_steps"):
        config_lib.resolve("tiny", ["max_stepz=3"])
    with pytest.raises(ValueError, match="expects int"):
        config_lib.resolve("tiny", ["max_steps=many"])
    with pytest.raises(ValueError, match="not key=value"):
        config_lib.resolve("tiny", ["max_steps"])
    with pytest.raises(FileNotFoundError, match="preset"):
        config_lib.load("huge")


def test_base_preset_reaches_fairseq_batch_by_accumulation():
    base = config_lib.resolve("base")
    assert base.accumulation(8) == 8 and base.accumulation(64) == 1 and base.accumulation(3) == 22
    hf = base.hf_config()
    assert (hf.num_codevector_groups, hf.num_codevectors_per_group, hf.num_negatives) == (2, 320, 100)
    assert (hf.mask_time_prob, hf.mask_time_length, hf.mask_time_min_masks) == (0.65, 10, 2)
    assert (base.segment_seconds, base.hop_seconds, base.max_batch_samples) == (20.0, 10.0, 1_400_000)


def test_cli_pretrain_export_and_plot(audio_dir, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from pretrain.cli import export_command, plot_command, pretrain_command

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runner = CliRunner()
    run = tmp_path / "cli_run"
    done = runner.invoke(pretrain_command, ["--config", "tiny", "--data", str(audio_dir), "--out", str(run),
                                            "--set", "max_steps=2", "--no-progress"])
    assert done.exit_code == 0, done.output
    assert (run / "checkpoints" / "last.ckpt").is_file()
    again = runner.invoke(pretrain_command, ["--config", "tiny", "--data", str(audio_dir), "--out", str(run)])
    assert again.exit_code != 0 and "--resume" in again.output
    bad = runner.invoke(pretrain_command, ["--config", "tiny", "--data", str(audio_dir), "--out",
                                           str(tmp_path / "x"), "--set", "nope=1"])
    assert bad.exit_code != 0 and "valid keys" in bad.output
    exported = runner.invoke(export_command, [str(run), str(tmp_path / "hf"), "--dtype", "float16"])
    assert exported.exit_code == 0, exported.output
    assert runner.invoke(plot_command, [str(run)]).exit_code == 0
    assert (run / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    from pretrain import train

    target = tmp_path / "last.ckpt"
    io = train.AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, target)

    def crash(obj, f):  # a write that dies half way, as on SIGKILL or a full disk
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(train.torch, "save", crash)
    with pytest.raises(OSError):
        io.save_checkpoint({"global_step": 2}, target)
    assert torch.load(target, weights_only=True) == {"global_step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary left behind


def _invoke(*args: str):
    from click.testing import CliRunner

    from pretrain.cli import pretrain_command

    return CliRunner().invoke(pretrain_command, [*args, "--no-progress"])


@pytest.fixture
def tiny_run(tmp_path) -> Path:
    """A run folder as `pretrain --config tiny` leaves it: config.yaml and a checkpoint (without tensors)."""
    run = tmp_path / "run"
    config = config_lib.resolve("tiny")
    config_lib.save(config, run / "config.yaml")
    meta = {"format_version": 1, "hf_config": config.hf_config().to_dict(), "normalize": True,
            "pretrain_config": config.to_dict()}
    (run / "checkpoints").mkdir()
    torch.save({"w2v_music": meta, "state_dict": {}, "global_step": 5}, run / "checkpoints" / "last.ckpt")
    return run


def test_cli_unknown_model_field_fails_before_any_work(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _invoke("--config", "tiny", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run"),
                     "--set", "model.layerdorp=0")
    assert result.exit_code == 2 and "layerdorp" in result.output and "valid fields" in result.output
    assert not (tmp_path / "run").exists()  # no config.yaml written


@pytest.mark.parametrize("override, message", [
    ("lr=-1", "lr = -1.0 is out of range: expected > 0"),
    ("max_steps=0", "max_steps = 0 is out of range: expected >= 1"),
    ("warmup_fraction=1.5", "warmup_fraction = 1.5 is out of range: expected in [0, 1]"),
    ("model.mask_time_prob=1.2", "model.mask_time_prob = 1.2 is out of range: expected a probability in [0, 1]"),
    ("precision=fp16", "precision = 'fp16': expected one of auto, 32-true"),
])
def test_config_values_are_checked_up_front(tmp_path, override, message):
    (tmp_path / "empty").mkdir()
    result = _invoke("--config", "tiny", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run"),
                     "--set", override)
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="lr = 0"):  # the typed function checks too, before the data scan
        run_pretraining(config_lib.PretrainConfig(lr=0), [tmp_path / "nowhere"], tmp_path / "run")


def test_cli_devices_must_be_a_number_or_auto(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _invoke("--config", "tiny", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run"),
                     "--devices", "two")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "expected a positive integer (devices per node), -1 or 'auto', got 'two'" in result.output


def test_resume_with_another_config_says_so(tiny_run):
    before = (tiny_run / "config.yaml").read_bytes()
    result = _invoke("--config", "small", "--data", str(tiny_run), "--out", str(tiny_run), "--resume")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "was made with another config (model_size 'tiny' there, 'small' here" in result.output
    assert (tiny_run / "config.yaml").read_bytes() == before


def test_resume_from_a_truncated_checkpoint_fails_before_touching_the_run(tiny_run):
    last = tiny_run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:300])
    before = (tiny_run / "config.yaml").read_bytes()
    result = _invoke("--data", str(tiny_run), "--out", str(tiny_run), "--resume")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"cannot resume from {last}: it is truncated or corrupt" in " ".join(result.output.split())
    assert "no earlier checkpoint is kept" in result.output
    assert (tiny_run / "config.yaml").read_bytes() == before
    assert sorted(p.name for p in tiny_run.rglob("*")) == ["checkpoints", "config.yaml", "last.ckpt"]
    (tiny_run / "checkpoints" / "step-0000040.ckpt").write_bytes(b"PK")
    result = _invoke("--data", str(tiny_run), "--out", str(tiny_run), "--resume")
    assert "step-0000040.ckpt" in result.output


def test_resume_without_a_checkpoint_refuses(tmp_path):
    run = tmp_path / "run"
    config_lib.save(config_lib.resolve("tiny"), run / "config.yaml")  # killed before its first checkpoint
    result = _invoke("--data", str(tmp_path), "--out", str(run), "--resume")
    assert result.exit_code == 1 and "there is no checkpoint to resume" in result.output
    assert "drop --resume" in result.output and f"--config {run / 'config.yaml'}" in result.output
    empty = _invoke("--data", str(tmp_path), "--out", str(tmp_path / "new"), "--resume")
    assert empty.exit_code == 1 and "drop --resume" in empty.output and not (tmp_path / "new").exists()


def test_lightning_checkpoints_use_an_explicit_weights_only(audio_dir, tmp_path):
    """Lightning logs "`weights_only` was not set" on every save (and load) that leaves the choice to it."""
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    lightning_log = logging.getLogger("pytorch_lightning.trainer.connectors.checkpoint_connector")
    lightning_log.addHandler(handler)
    try:
        config = _config(tmp_path, "max_steps=2")
        run_pretraining(config, [audio_dir], tmp_path / "run", progress_bar=False, callbacks=[_StopAt(1)])
        run_pretraining(config, [audio_dir], tmp_path / "run", resume=True, progress_bar=False)
    finally:
        lightning_log.removeHandler(handler)
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert not [r for r in records if "weights_only" in r.getMessage()]


def test_export_provenance_names_the_run_not_a_machine_path(straight_run, tmp_path):
    out = export(straight_run, tmp_path / "hf")
    provenance = json.loads((out / "w2v_music_provenance.json").read_text())
    assert provenance["source_run"] == straight_run.name
    assert provenance["source_checkpoint"] == "checkpoints/last.ckpt"  # not /home/someone/runs/...
    loose = export(straight_run / "checkpoints" / "last.ckpt", tmp_path / "hf2")
    assert json.loads((loose / "w2v_music_provenance.json").read_text())["source_run"] == straight_run.name
