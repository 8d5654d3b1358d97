"""``Wav2Vec2Embedder``: a loaded checkpoint as a HEAR 2021 embedding model.

The forward pass is ``layers.LayerExtractor`` (the one path to a layer, shared with the
evaluation and the analyses), stopping at the chosen layer, with the positional conv's weight norm
folded once and (``precision="bf16"``, or ``"auto"`` where bf16 is native) bfloat16 weights.
Clips are independent of their batch neighbours: every normalisation (input, group norm, layer
norms) is per clip.

Long clips are cut into overlapping windows of frames (``frames.plan_windows``). The CNN is exact
in windows: it is local except for the first layer's group norm (BASE's ``extractor_mode=default``),
whose per-channel statistics are computed over the whole clip in a streaming pre-pass. Only the
transformer sees less context, hence ``context_seconds`` on each side of every kept core.
"""
from __future__ import annotations

import logging
import warnings

import torch

from . import frames
from .checkpoints import Checkpoint
from .layers import LayerExtractor, fold_pos_conv, resolve_layer
from .precision import native_bf16, resolve_precision

log = logging.getLogger(__name__)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
_FAR_OUT = 2.0  # peak |sample| beyond which audio is taken as wrongly scaled (expected [-1, 1])


class Wav2Vec2Embedder(torch.nn.Module):
    """A wav2vec 2.0 model with the HEAR 2021 attributes (see docs/hear.md).

    Attributes: ``sample_rate`` (16000 Hz), ``scene_embedding_size`` and ``timestamp_embedding_size``
    (D: ``hidden_size``, or ``conv_dim[-1]`` for ``layer="cnn"``), ``layer`` (resolved: 0..L or
    ``"cnn"``), ``num_layers`` (L), ``precision`` (resolved: ``"fp32"`` or ``"bf16"``) with
    ``precision_reason`` (why), ``checkpoint``, ``backbone`` (the HF ``Wav2Vec2Model``).
    ``precision="auto"`` is bf16 where the checkpoint's device computes it natively (see
    ``precision.resolve_precision``), decided once, here. ``window_seconds`` bounds how much audio
    one forward pass sees; ``context_seconds`` is the context kept on each side of a window's core.
    """

    sample_rate: int = frames.SAMPLE_RATE

    def __init__(self, checkpoint: Checkpoint, layer: int | str | None = None, precision: str = "auto",
                 window_seconds: float = 30.0, context_seconds: float = 5.0) -> None:
        super().__init__()
        device = next(checkpoint.model.parameters()).device
        precision, self.precision_reason = resolve_precision(precision, device)
        log.info("precision %s (%s)", precision, self.precision_reason)
        config = checkpoint.model.config
        self.checkpoint = checkpoint
        self.model = checkpoint.model.eval()
        self.num_layers: int = config.num_hidden_layers
        self.layer = resolve_layer(layer, self.num_layers)
        self.precision = precision
        self.dtype = DTYPES[precision]
        size = config.conv_dim[-1] if self.layer == "cnn" else config.hidden_size
        self.scene_embedding_size: int = int(size)
        self.timestamp_embedding_size: int = int(size)
        self.window_frames = frames.num_frames(int(round(window_seconds * self.sample_rate)))
        self.context_frames = int(round(context_seconds * self.sample_rate / frames.HOP))
        self.pos_conv = fold_pos_conv(self.backbone.encoder.pos_conv_embed.conv)
        self.extractor = LayerExtractor(self.backbone, checkpoint.normalize, self.pos_conv, self.window_frames,
                                        self.context_frames)  # validates the window sizes
        self.model.to(self.dtype)
        self.pos_conv.to(self.dtype)
        self._warned_amplitude = False

    @property
    def backbone(self):
        """The HF ``Wav2Vec2Model`` (``checkpoint.model.wav2vec2``)."""
        return self.model.wav2vec2

    @property
    def device(self) -> torch.device:
        """Where the weights are; audio must be on the same device."""
        return self.pos_conv.weight.device

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings and timestamps of ``audio`` (n_sounds, n_samples) at 16 kHz, in [-1, 1].

        Returns float32 ``(n_sounds, T, D)`` and timestamps ``(n_sounds, T)`` in ms, with
        ``T = frames.num_frames(n_samples)``, frame k centred at 12.5 + 20 k ms.
        """
        audio = self.validate(audio)
        if self.dtype == torch.bfloat16 and audio.device.type == "cpu" and not native_bf16("cpu")[0]:
            warnings.warn("precision='bf16' on a CPU without AVX512-BF16 or AMX is emulated and several times "
                          "slower than fp32 here (see docs/performance.md); use precision='auto' or 'fp32' "
                          "on this machine",
                          RuntimeWarning, stacklevel=3)
        n_sounds, n_samples = audio.shape
        with torch.inference_mode():
            self.extractor.normalize = self.checkpoint.normalize  # the checkpoint's flag, read at every call
            emb = self.extractor.frames(audio, [self.layer])[0]
            stamps = frames.timestamps_ms(n_samples).to(audio.device).expand(n_sounds, -1).contiguous()
        return emb, stamps

    def validate(self, audio: torch.Tensor) -> torch.Tensor:
        """Check ``audio`` and return it as float32 (n_sounds, n_samples); raise TypeError/ValueError naming the problem."""
        if not isinstance(audio, torch.Tensor):
            raise TypeError(f"audio must be a torch.Tensor of shape (n_sounds, n_samples), got {type(audio).__name__}")
        if audio.dtype.is_complex or not audio.dtype.is_floating_point:
            raise TypeError(f"audio must be floating point in [-1, 1], got dtype {audio.dtype}"
                            + ("; integer PCM must be scaled first, e.g. int16 / 32768" if audio.dtype != torch.bool else ""))
        if audio.dim() != 2:
            hint = {1: "; add a batch axis with audio[None]",
                    3: "; mix multi-channel audio down to mono, e.g. audio.mean(dim=1)"}.get(audio.dim(), "")
            raise ValueError(f"audio must be 2-D (n_sounds, n_samples) mono at 16 kHz, got {audio.dim()}-D of "
                             f"shape {tuple(audio.shape)}{hint}")
        if audio.shape[0] == 0 or audio.shape[1] == 0:
            raise ValueError(f"audio is empty: shape {tuple(audio.shape)}; expected at least one sound of at least one sample")
        if audio.device != self.device:
            raise ValueError(f"audio is on {audio.device} but the model is on {self.device}; move one of them "
                             f"(audio.to(device) or model.to(device))")
        if not bool(torch.isfinite(audio).all()):
            bad = (~torch.isfinite(audio)).any(dim=1).nonzero().flatten().tolist()
            raise ValueError(f"audio contains NaN or Inf (sounds {bad[:10]}); expected finite samples in [-1, 1]")
        peak = float(audio.abs().max())
        if peak > _FAR_OUT and not self._warned_amplitude:
            self._warned_amplitude = True  # once per model: a whole corpus at the wrong scale says it once
            warnings.warn(f"audio peaks at {peak:.3g}, far outside the expected range [-1, 1]: scale it to float "
                          f"samples in [-1, 1] first (e.g. int16 PCM / 32768)", UserWarning, stacklevel=4)
        return audio.float()
