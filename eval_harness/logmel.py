"""The non-learned reference of FE: the time-mean of a 128-band log-mel spectrogram, as a `Featurizer`.

25 ms Hann window, 10 ms hop at 16 kHz, HTK mel filters; standardised with the training split's
statistics before the linear layer (``standardize = True``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from eval_harness.nsynth import SAMPLE_RATE

LOGMEL = "logmel"


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
