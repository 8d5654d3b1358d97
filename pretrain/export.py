"""Export a ``pretrain`` Lightning checkpoint to an HF model directory.

OUT holds ``config.json`` + ``model.safetensors`` (a ``Wav2Vec2ForPreTraining`` with quantizer,
``project_q`` and ``project_hid``), ``preprocessor_config.json`` (``do_normalize`` from the run),
``w2v_music_provenance.json`` (source run name and checkpoint path within it, never an absolute path
of the exporting machine; step, configs, data) and ``SHA256SUMS``. The folder is built
under a temporary name and renamed into place. Loadable by
``transformers.Wav2Vec2ForPreTraining.from_pretrained`` and ``hear_w2v_music.load_model``.
"""
from __future__ import annotations

import datetime as dt
import math
import json
from pathlib import Path

import torch

from hear_w2v_music.checkpoints import CHECKPOINT_KEY, STATE_KEY, load_lightning, sha256_file
from pretrain.fileio import atomic_dir

PROVENANCE = "w2v_music_provenance.json"
DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def find_checkpoint(src: str | Path) -> Path:
    """``src`` itself if a file, else ``src/checkpoints/last.ckpt`` of a run directory."""
    src = Path(src)
    if src.is_dir():
        src = src / "checkpoints" / "last.ckpt"
    if not src.is_file():
        raise FileNotFoundError(f"no checkpoint at {src}: expected a .ckpt file or a run directory of `pretrain`")
    return src


def source_of(ckpt_path: Path) -> tuple[str, str]:
    """``(run name, checkpoint path inside the run)``, e.g. ``("music-small", "checkpoints/last.ckpt")``.

    The run is the folder above ``checkpoints/``, or the checkpoint's own folder for a loose file.
    """
    ckpt_path = ckpt_path.resolve()
    run = ckpt_path.parent.parent if ckpt_path.parent.name == "checkpoints" else ckpt_path.parent
    return run.name, ckpt_path.relative_to(run).as_posix()


def training_summary(ckpt_path: Path, num_negatives: int, rows: int = 10) -> dict:
    """Means of the last ``rows`` logged rows of the run's metrics.csv beside the checkpoint's folder.

    The contrastive loss with its plateau ln(K + 1), the honest accuracy (ties wrong) with its chance
    level over the effective negatives, and the code perplexity; empty when the run has no log.
    """
    from pretrain.plot import read_metrics

    path = ckpt_path.parent.parent / "metrics.csv"
    try:
        data = read_metrics(path)
    except (FileNotFoundError, ValueError):
        return {}
    summary = {"rows": f"mean of the last {rows} logged rows, up to step {int(data['step'][-1])}",
               "plateau_ln_k_plus_1": round(math.log(num_negatives + 1), 4)}
    for name in ("contrastive", "accuracy", "chance", "effective_negatives", "code_perplexity"):
        values = [v for v in data.get(name, [])[-rows:] if v == v]
        if values:
            summary[name] = round(sum(values) / len(values), 4)
    return summary


def export(src: str | Path, out: str | Path, dtype: str = "float32", overwrite: bool = False) -> Path:
    """Write the HF directory ``out`` from checkpoint or run ``src``; weights cast to ``dtype``."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    ckpt_path = find_checkpoint(src)
    checkpoint, ckpt = load_lightning(ckpt_path)
    model, meta = checkpoint.model, ckpt[CHECKPOINT_KEY]
    model = model.to(DTYPES[dtype])
    with atomic_dir(out, overwrite=True) as tmp:  # an existing `out` was refused above unless `overwrite`
        model.save_pretrained(tmp, safe_serialization=True)
        (tmp / "preprocessor_config.json").write_text(json.dumps({
            "feature_extractor_type": "Wav2Vec2FeatureExtractor", "sampling_rate": 16000,
            "do_normalize": bool(meta["normalize"]), "feature_size": 1, "padding_value": 0.0,
            "return_attention_mask": False}, indent=2))
        run_name, relative = source_of(ckpt_path)
        (tmp / PROVENANCE).write_text(json.dumps({
            "source_run": run_name, "source_checkpoint": relative, "source_sha256": sha256_file(ckpt_path),
            "global_step": int(ckpt.get("global_step", -1)), "dtype": dtype,
            "exported_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, "transformers": __import__("transformers").__version__,
            "pretrain_config": meta["pretrain_config"], "data": ckpt.get(STATE_KEY, {}).get("data", {}),
            "heads": ["quantizer", "project_q", "project_hid"],
            "training": training_summary(ckpt_path, model.config.num_negatives)}, indent=2))
        sums = [f"{sha256_file(p)}  {p.name}" for p in sorted(tmp.iterdir()) if p.is_file()]
        (tmp / "SHA256SUMS").write_text("\n".join(sums) + "\n")
        for path in tmp.iterdir():
            path.chmod(0o644)
        tmp.chmod(0o755)
    return out
