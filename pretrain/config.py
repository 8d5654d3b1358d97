"""Pretraining configuration: a dataclass, YAML presets (``presets/*.yaml``) and ``key=value`` overrides.

Presets: ``base`` (the paper: BASE on MusicNet, fairseq's 64-GPU batch), ``small`` (the bundled CPU
checkpoints), ``tiny`` (tests). ``resolve(name_or_path, ["max_steps=100", "model.layerdrop=0"])``
loads a preset and applies typed overrides; unknown keys raise an error listing the valid ones.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from pretrain.fileio import write_text_atomic

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class PretrainConfig:
    """Everything a run needs besides the data folders. Units are in the field comments."""

    # model
    model_size: str = "small"  # a name of hear_w2v_music.configs.SIZES
    model: dict = field(default_factory=dict)  # Wav2Vec2Config overrides (dropouts, masking, codebooks...)
    normalize: bool = True  # per-clip zero-mean unit-variance input (preprocessor do_normalize)
    feature_grad_mult: float = 0.1  # gradient scale on the CNN
    feature_penalty: float = 10.0  # weight of the mean squared CNN features
    # Gumbel temperature max(gumbel_max * gumbel_decay**step, gumbel_min); decay None = scaled to
    # max_steps so the minimum is reached at the same fraction of training as fairseq (277k / 400k).
    gumbel_max: float = 2.0
    gumbel_min: float = 0.5
    gumbel_decay: float | None = None
    # optimisation
    max_steps: int = 1000  # optimizer updates
    lr: float = 5e-4
    warmup_steps: int | None = None  # None = warmup_fraction * max_steps
    warmup_fraction: float = 0.08  # fairseq BASE: 32k of 400k
    adam_betas: list = field(default_factory=lambda: [0.9, 0.98])
    adam_eps: float = 1e-6
    weight_decay: float = 0.01
    grad_clip: float = 0.0  # max grad norm, 0 = off (fairseq BASE)
    accumulate_grad_batches: int = 1
    effective_batch_gpus: int | None = None  # if set, accumulate = ceil(this / world size) (base: 64)
    seed: int = 0
    # data
    sample_rate: int = 16000  # Hz, model input
    segment_seconds: float = 20.0  # s, segments of each recording (the paper)
    hop_seconds: float = 10.0  # s, between segment starts
    min_segment_seconds: float = 2.0  # s, shorter recordings are skipped
    max_batch_samples: int = 1_400_000  # samples per device per step (fairseq max_tokens)
    max_crop_samples: int = 250_000  # samples, crop cap (fairseq max_sample_size)
    musicnet_splits: list = field(default_factory=lambda: ["train"])  # train_data/, test_data/
    manifest_cache: str | None = None  # folder of cached manifests; None = ~/.cache/w2v-music/manifests
    num_workers: int = 2
    # runtime
    precision: str = "auto"  # auto = bf16-mixed on GPU and native-bf16 CPUs, else 32-true; or a Lightning precision
    num_threads: int | None = None  # torch CPU threads per process
    checkpoint_every_steps: int = 100
    keep_every_steps: int | None = None  # also keep RUN/checkpoints/step-NNNNNNN.ckpt every N updates (None = none)
    log_every_steps: int = 10
    collapse_warn_factor: float = 2.0  # warn when code perplexity < factor * number of groups
    identical_warn_share: float = 0.25  # warn when this share of negatives has the positive's code

    def warmup(self) -> int:
        """Warm-up length in optimizer steps."""
        if self.warmup_steps is not None:
            return self.warmup_steps
        return max(1, int(round(self.warmup_fraction * self.max_steps)))

    def decay(self) -> float:
        """Per-step Gumbel temperature decay factor."""
        if self.gumbel_decay is not None:
            return self.gumbel_decay
        anneal_steps = max(1.0, 0.6931 * self.max_steps)  # fairseq: ln(0.25)/ln(0.999995) / 400k
        return (self.gumbel_min / self.gumbel_max) ** (1.0 / anneal_steps)

    def temperature(self, step: int) -> float:
        """Gumbel-softmax temperature at optimizer step ``step``."""
        return max(self.gumbel_max * self.decay() ** step, self.gumbel_min)

    def lr_factor(self, step: int) -> float:
        """Learning-rate multiplier at ``step``: linear warm-up to 1, then linear decay to 0 at max_steps."""
        warm = self.warmup()
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (self.max_steps - step) / max(1, self.max_steps - warm))

    def accumulation(self, world_size: int) -> int:
        """Gradient accumulation for ``world_size`` processes."""
        if self.effective_batch_gpus is not None:
            return max(1, math.ceil(self.effective_batch_gpus / world_size))
        return self.accumulate_grad_batches

    def hf_config(self):
        """The ``transformers.Wav2Vec2Config`` of this run (size + overrides)."""
        from hear_w2v_music import configs

        if self.model_size not in configs.SIZES:
            raise ValueError(f"unknown model_size {self.model_size!r}; expected one of {sorted(configs.SIZES)}")
        return configs.SIZES[self.model_size](**self.model)

    def to_dict(self) -> dict:
        """A plain dict (YAML/JSON-serialisable)."""
        return dataclasses.asdict(self)


_FIELDS = {f.name: f for f in dataclasses.fields(PretrainConfig)}
# Allowed values, checked before any work: key -> (test, the range in words). None passes where the type allows it.
_AT_LEAST_1, _POSITIVE, _NON_NEGATIVE = (lambda v: v >= 1, ">= 1"), (lambda v: v > 0, "> 0"), (lambda v: v >= 0, ">= 0")
_CHECKS = {
    "lr": _POSITIVE, "max_steps": _AT_LEAST_1, "warmup_steps": _NON_NEGATIVE,
    "warmup_fraction": (lambda v: 0 <= v <= 1, "in [0, 1]"), "adam_eps": _POSITIVE, "weight_decay": _NON_NEGATIVE,
    "adam_betas": (lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(0 <= b < 1 for b in v),
                   "two values in [0, 1)"),
    "grad_clip": _NON_NEGATIVE, "accumulate_grad_batches": _AT_LEAST_1, "effective_batch_gpus": _AT_LEAST_1,
    "feature_grad_mult": _NON_NEGATIVE, "feature_penalty": _NON_NEGATIVE, "gumbel_max": _POSITIVE,
    "gumbel_min": _POSITIVE, "gumbel_decay": (lambda v: 0 < v <= 1, "in (0, 1]"), "sample_rate": _AT_LEAST_1,
    "segment_seconds": _POSITIVE, "hop_seconds": _POSITIVE, "min_segment_seconds": _NON_NEGATIVE,
    "max_batch_samples": _AT_LEAST_1, "max_crop_samples": _AT_LEAST_1, "num_workers": _NON_NEGATIVE,
    "num_threads": _AT_LEAST_1, "checkpoint_every_steps": _AT_LEAST_1, "keep_every_steps": _AT_LEAST_1,
    "log_every_steps": _AT_LEAST_1,
    "collapse_warn_factor": _NON_NEGATIVE, "identical_warn_share": (lambda v: 0 <= v <= 1, "in [0, 1]"),
}
_PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "bf16-true", "bf16", "16-mixed", "16-true", "16", "64-true", "64")
_PROBABILITY_SUFFIXES = ("dropout", "layerdrop", "_prob")  # Wav2Vec2Config fields that are probabilities


def validate(config: PretrainConfig) -> PretrainConfig:
    """Check every value's range up front; ``ValueError`` names the key and the allowed range."""
    for key, (ok, allowed) in _CHECKS.items():
        value = getattr(config, key)
        try:
            good = value is None or (not isinstance(value, (bool, str)) and ok(value))
        except TypeError:  # a YAML file can hold any type
            good = False
        if not good:
            raise ValueError(f"{key} = {value!r} is out of range: expected {allowed}")
    if config.gumbel_min > config.gumbel_max:
        raise ValueError(f"gumbel_min = {config.gumbel_min} exceeds gumbel_max = {config.gumbel_max}")
    if str(config.precision) not in _PRECISIONS:
        raise ValueError(f"precision = {config.precision!r}: expected one of {', '.join(_PRECISIONS)}")
    for key, value in config.model.items():
        if key.endswith(_PROBABILITY_SUFFIXES) and isinstance(value, (int, float)) and not 0 <= value <= 1:
            raise ValueError(f"model.{key} = {value!r} is out of range: expected a probability in [0, 1]")
    return config


def from_dict(values: dict) -> PretrainConfig:
    """Build a config from a dict; unknown keys or out-of-range values raise ``ValueError`` naming them."""
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown}; valid keys: {sorted(_FIELDS)}")
    return validate(PretrainConfig(**values))


def load(name_or_path: str) -> PretrainConfig:
    """A preset by name (``base``, ``small``, ``tiny``) or a YAML file path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no config {name_or_path!r}: expected a preset {names} or a YAML file")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of config keys, got {type(values).__name__}")
    return from_dict(values)


def _parse_value(key: str, text: str, kind: Any) -> Any:
    value = yaml.safe_load(text)
    if value is None:
        if "None" in str(kind):
            return None
        raise ValueError(f"{key} cannot be null")
    base = kind if isinstance(kind, type) else None
    if base is None:  # Optional[...] -> the non-None member
        base = next((a for a in getattr(kind, "__args__", ()) if a is not type(None)), str)
    if base is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:  # YAML 1.1 reads "1e-3" as a string
            value = float(value)
        except ValueError:
            raise ValueError(f"{key} expects float, got {text!r}") from None
    if base is bool and not isinstance(value, bool):
        raise ValueError(f"{key} expects true or false, got {text!r}")
    if not isinstance(value, base):
        raise ValueError(f"{key} expects {base.__name__}, got {text!r}")
    return value


def apply_overrides(config: PretrainConfig, overrides: list[str]) -> PretrainConfig:
    """Apply ``key=value`` strings (YAML-typed); ``model.NAME=value`` sets a Wav2Vec2Config field."""
    hints = get_type_hints(PretrainConfig)
    values = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if key.startswith("model."):
            values["model"] = {**values["model"], key[len("model."):]: yaml.safe_load(text)}
            continue
        if key not in _FIELDS:
            raise ValueError(f"unknown config key {key!r}; valid keys: {sorted(_FIELDS)} "
                             "(and model.<Wav2Vec2Config field>)")
        values[key] = _parse_value(key, text, hints[key])
    result = from_dict(values)
    result.hf_config()  # validate model size + overrides early
    return result


def resolve(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> PretrainConfig:
    """Load a preset or YAML file and apply ``key=value`` overrides."""
    return apply_overrides(load(name_or_path), list(overrides))


def save(config: PretrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
