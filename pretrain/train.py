"""``run_pretraining``: segments -> Lightning Trainer (CPU, GPU, DDP, multi-node) -> RUN directory.

RUN layout::

    RUN/config.yaml              resolved config (also RUN/checkpoints/config.yaml)
    RUN/checkpoints/last.ckpt    written atomically every ``checkpoint_every_steps`` and at the end
    RUN/checkpoints/step-NNNNNNN.ckpt  kept copies every ``keep_every_steps`` (when set)
    RUN/metrics.csv              one row per ``log_every_steps`` updates (see ``METRIC_COLUMNS``)
    RUN/tensorboard/             when tensorboard is installed

A SIGKILL loses at most the updates since the last checkpoint; ``resume=True`` continues from
``last.ckpt`` with the same step, optimizer, learning rate, temperature and data stream. Everything
that can fail early (config values, a missing, truncated or foreign ``last.ckpt``) fails before the
data scan and before anything in RUN is written.
"""
from __future__ import annotations

import csv
import json
import logging
import pickle
import shutil
import time
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.strategies import DDPStrategy
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from hear_w2v_music.checkpoints import CHECKPOINT_KEY
from hear_w2v_music.precision import resolve_precision
from pretrain import config as config_lib
from pretrain.config import PretrainConfig
from pretrain.data import SegmentDataset
from pretrain.fileio import atomic_path
from pretrain.module import Wav2Vec2Pretraining
from pretrain.sources import collect_segments

log = logging.getLogger(__name__)
METRIC_COLUMNS = ("step", "loss", "contrastive", "diversity", "feature_penalty", "code_perplexity",
                  "prob_perplexity", "accuracy", "chance", "effective_negatives", "identical_negatives",
                  "temperature", "lr", "grad_norm", "audio_s_per_s", "skipped_items", "wall_s")


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file in the same folder, fsync, then rename (`fileio.atomic_path`)."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:  # noqa: D102
        with atomic_path(path, fsync=True) as tmp, open(tmp, "wb") as f:
            torch.save(checkpoint, f)

    def load_checkpoint(self, path, map_location=None, weights_only: bool | None = None) -> dict:  # noqa: D102
        # An explicit choice, on every Lightning version: our checkpoints hold tensors and plain data only.
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Checkpoint file not found: {path}")
        return torch.load(path, map_location=map_location or "cpu",
                          weights_only=True if weights_only is None else weights_only)


class PeriodicCheckpoint(pl.Callback):
    """Save ``RUN/checkpoints/last.ckpt`` every ``every`` updates and when training ends.

    With ``config.keep_every_steps = K`` the checkpoint of every K-th update is also kept as
    ``RUN/checkpoints/step-NNNNNNN.ckpt`` (fairseq's ``keep_interval_updates`` idea): snapshots along one
    schedule for evaluation; any of them is a model source and can be copied over ``last.ckpt`` to resume.
    """

    def __init__(self, run_dir: Path, every: int, config: PretrainConfig) -> None:
        self.path = run_dir / "checkpoints" / "last.ckpt"
        self.every, self.keep, self.config, self._saved = every, config.keep_every_steps, config, -1

    def _save(self, trainer: pl.Trainer) -> None:
        step = trainer.global_step
        if step != self._saved:
            trainer.save_checkpoint(self.path, weights_only=False)  # the full state: resume needs the optimizer
            if trainer.is_global_zero:
                config_lib.save(self.config, self.path.parent / "config.yaml")
            self._saved = step
        if self.keep and step > 0 and step % self.keep == 0 and trainer.is_global_zero:
            kept = self.path.with_name(f"step-{step:07d}.ckpt")
            if not kept.is_file():
                with atomic_path(kept) as tmp:
                    shutil.copyfile(self.path, tmp)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D102
        step = trainer.global_step
        if step > 0 and step != self._saved and (step % self.every == 0 or (self.keep and step % self.keep == 0)):
            self._save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:  # noqa: D102
        self._save(trainer)


class MetricsCSV(pl.Callback):
    """Append ``METRIC_COLUMNS`` to ``RUN/metrics.csv`` every ``every`` updates (rank 0 only).

    On (re)start, rows after the restored step are dropped, so a resumed run has no duplicates.
    """

    def __init__(self, path: Path, every: int) -> None:
        self.path, self.every, self._last, self._t0 = path, every, -1, time.perf_counter()

    def on_train_start(self, trainer, pl_module) -> None:  # noqa: D102
        if not trainer.is_global_zero or not self.path.is_file():
            return
        with self.path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("step", "").isdigit() and int(r["step"]) <= trainer.global_step]
        _write_rows(self.path, rows)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D102
        step = trainer.global_step
        if not trainer.is_global_zero or step == self._last or step % self.every:
            return
        self._last = step
        row = {"step": step, "wall_s": round(time.perf_counter() - self._t0, 3), **pl_module.last_metrics}
        new = not self.path.is_file()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


def _write_rows(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _logger(run_dir: Path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    from pytorch_lightning.loggers import TensorBoardLogger

    return TensorBoardLogger(str(run_dir), name="tensorboard", version="")


def build_trainer(config: PretrainConfig, run_dir: Path, devices: int | str = 1, num_nodes: int = 1,
                  accelerator: str = "auto", progress_bar: bool = True,
                  callbacks: list[pl.Callback] | None = None) -> pl.Trainer:
    """A Trainer with the run's precision, accumulation, DDP strategy and callbacks (plus ``callbacks``)."""
    use_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    precision = config.precision
    if precision == "auto":  # bf16-mixed on GPUs and on CPUs with native bf16 (AVX512-BF16, AMX)
        chosen, reason = resolve_precision("auto", "cuda" if use_gpu else "cpu")
        precision = "bf16-mixed" if chosen == "bf16" else "32-true"
        log.info("precision %s (%s)", precision, reason)
    world = (torch.cuda.device_count() if devices in (-1, "auto") and use_gpu else
             int(devices) if str(devices).isdigit() else 1) * num_nodes
    strategy: str | DDPStrategy = "auto"
    if world > 1:  # layerdrop skips layers per rank: DDP must tolerate parameters without gradients
        strategy = DDPStrategy(find_unused_parameters=config.hf_config().layerdrop > 0)
    return pl.Trainer(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes,
        strategy=strategy, precision=precision,
        max_steps=config.max_steps, max_epochs=-1,
        accumulate_grad_batches=config.accumulation(world),
        gradient_clip_val=config.grad_clip or None,
        use_distributed_sampler=False, enable_checkpointing=False,
        logger=_logger(run_dir), log_every_n_steps=config.log_every_steps,
        callbacks=[PeriodicCheckpoint(run_dir, config.checkpoint_every_steps, config),
                   MetricsCSV(run_dir / "metrics.csv", config.log_every_steps), *(callbacks or [])],
        plugins=[AtomicCheckpointIO()], enable_progress_bar=progress_bar,
        enable_model_summary=False, default_root_dir=str(run_dir), num_sanity_val_steps=0,
    )


def run_pretraining(config: PretrainConfig, data_dirs: list[str | Path], run_dir: str | Path,
                    resume: bool = False, devices: int | str = 1, num_nodes: int = 1,
                    accelerator: str = "auto", progress_bar: bool = True,
                    callbacks: list[pl.Callback] | None = None) -> Path:
    """Pretrain on the audio of ``data_dirs`` into ``run_dir``; return the path of ``last.ckpt``.

    With ``resume`` training continues from ``run_dir/checkpoints/last.ckpt`` (see ``resume_checkpoint``
    for what is checked first); without ``resume`` an existing checkpoint is an error (nothing is
    overwritten by accident). Both checks, and the config's ranges, come before any data scan or write.
    """
    run_dir = Path(run_dir)
    config_lib.validate(config)
    last = run_dir / "checkpoints" / "last.ckpt"
    if resume:
        resume_checkpoint(config, run_dir)
    elif last.exists():
        raise FileExistsError(f"{last} exists: pass --resume to continue that run, or choose another --out")
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    segments, skipped = collect_segments(
        list(data_dirs), config.segment_seconds, config.hop_seconds, config.min_segment_seconds,
        config.musicnet_splits, config.manifest_cache)
    dataset = SegmentDataset(segments, config.sample_rate)
    hours = sum(dataset.lengths()) / config.sample_rate / 3600
    log.info("%d segments (%.2f h with overlap) from %s; %d unreadable file(s) skipped",
             len(segments), hours, [str(d) for d in data_dirs], len(skipped))
    if skipped:
        log.warning("skipped %d unreadable file(s), e.g. %s", len(skipped), skipped[:3])
    run_dir.mkdir(parents=True, exist_ok=True)
    config_lib.save(config, run_dir / "config.yaml")
    module = Wav2Vec2Pretraining(config, dataset)
    module.data_info = {"dirs": [str(Path(d).resolve()) for d in data_dirs], "segments": len(segments),
                        "segment_hours": round(hours, 4), "unreadable_files": len(skipped)}
    trainer = build_trainer(config, run_dir, devices, num_nodes, accelerator, progress_bar, callbacks)
    trainer.fit(module, ckpt_path=str(last) if resume else None)
    return last


# Wav2Vec2Config fields that fix the weights' shapes: a checkpoint only fits a model that agrees on all of them.
_ARCHITECTURE = ("conv_dim", "conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm", "hidden_size",
                 "num_hidden_layers", "num_attention_heads", "intermediate_size", "num_conv_pos_embeddings",
                 "num_conv_pos_embedding_groups", "do_stable_layer_norm", "codevector_dim", "proj_codevector_dim",
                 "num_codevector_groups", "num_codevectors_per_group")


def resume_checkpoint(config: PretrainConfig, run_dir: str | Path) -> Path:
    """``run_dir/checkpoints/last.ckpt``, checked for a resume with ``config`` without loading its tensors.

    Raises ``FileNotFoundError`` when there is none (nothing to resume: drop ``--resume``) and
    ``ValueError`` for a truncated or foreign file, or one whose architecture differs from
    ``config``'s (the run was made with another config). Reads only; writes nothing.
    """
    run_dir = Path(run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        hint = (f" (add --config {run_dir / 'config.yaml'} to reuse its settings)"
                if (run_dir / "config.yaml").is_file() else "")
        raise FileNotFoundError(f"--resume: there is no checkpoint to resume in {run_dir} ({last} does not exist); "
                                f"drop --resume to start a new run there{hint}")
    try:  # mmap: the pickle and the zip directory are read, the tensors are not
        meta = torch.load(last, map_location="cpu", weights_only=True, mmap=True)[CHECKPOINT_KEY]
        saved_hf, run_config = dict(meta["hf_config"]), dict(meta["pretrain_config"])
    except (RuntimeError, OSError, EOFError, KeyError, TypeError, ValueError, pickle.UnpicklingError) as err:
        earlier = sorted(p.name for p in last.parent.glob("*.ckpt") if p != last)
        advice = (f"earlier checkpoint(s) are kept beside it ({', '.join(earlier)}): copy one over last.ckpt to "
                  f"resume from there" if earlier else
                  "no earlier checkpoint is kept: move it away and start again without --resume")
        raise ValueError(f"cannot resume from {last}: it is truncated or corrupt, or not a `w2v-music pretrain` "
                         f"checkpoint ({str(err).splitlines()[0][:160]}); {advice}") from err
    ours = config.hf_config().to_dict()
    differ = [k for k in _ARCHITECTURE if json.dumps(saved_hf.get(k)) != json.dumps(ours.get(k))]  # tuples = lists
    if differ:
        shown = ", ".join(f"{k} {saved_hf.get(k)} there, {ours.get(k)} here" for k in differ[:4])
        raise ValueError(f"{run_dir} was made with another config (model_size {run_config.get('model_size')!r} "
                         f"there, {config.model_size!r} here; {shown}), so {last} does not fit this model: resume "
                         f"without --config to use the run's own {run_dir / 'config.yaml'}, or choose another --out")
    changed = sorted(k for k, v in config.to_dict().items()
                     if k in run_config and json.dumps(run_config[k]) != json.dumps(v))
    if changed:
        log.warning("resuming %s with settings that differ from the run's: %s", run_dir, ", ".join(changed))
    return last
