"""``Wav2Vec2Embedder``: a loaded checkpoint as a HEAR 2021 embedding model.

The forward pass runs the HF modules of ``checkpoint.model.wav2vec2`` directly, stopping at the
chosen layer, with the positional conv's weight norm folded once, no masking or dropout paths,
and (``precision="bf16"``, or ``"auto"`` where bf16 is native) bfloat16 weights. Clips are
independent of their batch neighbours: every normalisation (input, group norm, layer norms) is
per clip.

Long clips are cut into overlapping windows of frames (``plan_windows``). The CNN is exact in
windows: it is local except for the first layer's group norm (BASE's ``extractor_mode=default``),
whose per-channel statistics are computed over the whole clip in a streaming pre-pass. Only the
transformer sees less context, hence ``context_seconds`` on each side of every kept core.
"""
from __future__ import annotations

import logging
import warnings

import torch
import torch.nn.functional as F
from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2GroupNormConvLayer

from . import frames
from .checkpoints import Checkpoint
from .precision import native_bf16, resolve_precision

log = logging.getLogger(__name__)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
_GN_CHUNK = 32000  # first-conv outputs per step of the group-norm pre-pass (10 s at 3200 per second)
_NORM_EPS = 1e-7  # per-clip input normalisation, as HF's Wav2Vec2FeatureExtractor
_FAR_OUT = 2.0  # peak |sample| beyond which audio is taken as wrongly scaled (expected [-1, 1])


def resolve_layer(layer: int | str | None, num_layers: int) -> int | str:
    """The layer index in ``0..num_layers`` (or ``"cnn"``) that ``layer`` names.

    ``None`` and ``-1`` are the last transformer block; negative indices count from the end as in
    Python (``-(num_layers + 1)`` is 0, the transformer input); a digit string is accepted because
    heareval passes options as JSON.
    """
    if layer is None:
        return num_layers
    if isinstance(layer, str):
        if layer == "cnn":
            return "cnn"
        try:
            layer = int(layer)
        except ValueError:
            raise ValueError(f"layer must be an int in [-{num_layers + 1}, {num_layers}] or 'cnn', got {layer!r}") from None
    if isinstance(layer, bool) or not isinstance(layer, int):
        raise TypeError(f"layer must be an int or 'cnn', got {type(layer).__name__}")
    if not -(num_layers + 1) <= layer <= num_layers:
        raise ValueError(f"layer {layer} is out of range for a {num_layers}-layer model: expected an int in "
                         f"[-{num_layers + 1}, {num_layers}] (0 = transformer input, -1 = last block) or 'cnn'")
    return layer if layer >= 0 else num_layers + 1 + layer


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
        frames.plan_windows(self.window_frames + 1, self.window_frames, self.context_frames)  # validates both
        self.pos_conv = _folded_pos_conv(self.backbone.encoder.pos_conv_embed.conv)
        self._pos_trim = 1 if config.num_conv_pos_embeddings % 2 == 0 else 0
        self.stable_layer_norm = bool(config.do_stable_layer_norm)
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
            x = _normalize(audio) if self.checkpoint.normalize else audio
            if n_samples < frames.RECEPTIVE_FIELD:
                x = F.pad(x, (0, frames.RECEPTIVE_FIELD - n_samples))
            n_frames = frames.num_frames(x.shape[1])
            windows = frames.plan_windows(n_frames, self.window_frames, self.context_frames)
            if len(windows) == 1:
                emb = self._embed_window(x, None)
            else:
                stats = self._group_norm_stats(x)
                emb = torch.empty(n_sounds, n_frames, self.timestamp_embedding_size, dtype=torch.float32,
                                  device=x.device)
                for w in windows:
                    a, b = w.samples
                    out = self._embed_window(x[:, a:b], stats)
                    emb[:, w.keep_start:w.keep_stop] = out[:, w.keep_start - w.start:w.keep_stop - w.start]
            stamps = frames.timestamps_ms(n_samples).to(x.device).expand(n_sounds, -1).contiguous()
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

    def _embed_window(self, x: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """(B, n) samples -> (B, num_frames(n), D) float32 at ``self.layer``; ``stats``: group-norm (mean, rstd)."""
        backbone = self.backbone
        feats = self._cnn(x.to(self.dtype), stats).transpose(1, 2)
        feats = backbone.feature_projection.layer_norm(feats)
        if self.layer == "cnn":
            return feats.float()
        h = backbone.feature_projection.projection(feats)
        pos = self.pos_conv(h.transpose(1, 2))
        if self._pos_trim:
            pos = pos[:, :, :-self._pos_trim]
        h = h + F.gelu(pos).transpose(1, 2)
        if not self.stable_layer_norm:
            h = backbone.encoder.layer_norm(h)
        for block in backbone.encoder.layers[:self.layer]:
            h = block(h, attention_mask=None)
        return h.float()

    def _cnn(self, x: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """The feature encoder on (B, n) samples -> (B, C, T); the first group norm uses ``stats`` when given."""
        layers = self.backbone.feature_extractor.conv_layers
        h = x[:, None]
        first = layers[0]
        if stats is not None and isinstance(first, Wav2Vec2GroupNormConvLayer):
            mean, rstd = stats
            h = first.conv(h)
            h = (h - mean.to(h.dtype)) * rstd.to(h.dtype)
            h = h * first.layer_norm.weight[:, None] + first.layer_norm.bias[:, None]
            h = first.activation(h)
        else:
            h = first(h)
        for layer in layers[1:]:
            h = layer(h)
        return h

    def _group_norm_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Per-clip, per-channel (mean, 1/std) of the first conv's output over the whole clip, (B, C, 1) each.

        Streams the first conv over chunks of ``_GN_CHUNK`` outputs with float64 sums, so memory
        does not grow with the clip. None when the first layer has no group norm.
        """
        first = self.backbone.feature_extractor.conv_layers[0]
        if not isinstance(first, Wav2Vec2GroupNormConvLayer):
            return None
        kernel, stride = first.conv.kernel_size[0], first.conv.stride[0]
        n_out = (x.shape[1] - kernel) // stride + 1
        total = torch.zeros(x.shape[0], first.conv.out_channels, dtype=torch.float64, device=x.device)
        total_sq = torch.zeros_like(total)
        for j in range(0, n_out, _GN_CHUNK):
            j_end = min(j + _GN_CHUNK, n_out)
            y = first.conv(x[:, None, j * stride:(j_end - 1) * stride + kernel].to(self.dtype)).double()
            total += y.sum(dim=2)
            total_sq += (y * y).sum(dim=2)
        mean = total / n_out
        var = (total_sq / n_out - mean * mean).clamp_min(0.0)
        rstd = 1.0 / torch.sqrt(var + first.layer_norm.eps)
        return mean[:, :, None].float(), rstd[:, :, None].float()


def _normalize(audio: torch.Tensor) -> torch.Tensor:
    """Per-clip zero mean, unit variance of (B, n) audio (statistics in float64), as float32."""
    x = audio.double()
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return ((x - mean) / torch.sqrt(var + _NORM_EPS)).float()


def _folded_pos_conv(conv: torch.nn.Conv1d) -> torch.nn.Conv1d:
    """A plain ``Conv1d`` equal to the weight-normed positional conv, with the norm computed once."""
    folded = torch.nn.Conv1d(conv.in_channels, conv.out_channels, conv.kernel_size[0], padding=conv.padding[0],
                             groups=conv.groups, bias=conv.bias is not None)
    with torch.no_grad():
        folded.weight.copy_(conv.weight)
        if conv.bias is not None:
            folded.bias.copy_(conv.bias)
    return folded.requires_grad_(False).to(conv.weight.device)
