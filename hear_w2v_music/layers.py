"""The one path to "layer k" of a wav2vec 2.0 model: input normaliser, layer specs, layer extractor.

Every consumer takes its features here: the HEAR embedder (``embedder.Wav2Vec2Embedder``), the
evaluation's FE encoder, and the analyses (layer similarity, quantizer codes). The stages of a
model with L transformer blocks, all at one frame per 20 ms (320 samples at 16 kHz):

- ``"cnn"``: the CNN feature encoder's output after the feature layer norm and before the feature
  projection, ``conv_dim[-1]`` wide: HF's ``extract_features``, i.e. what the quantizer reads;
- ``0``: the transformer input, HF ``hidden_states[0]``: projected features plus the positional
  convolution, after the encoder layer norm for post-LN models (``do_stable_layer_norm=False``);
- ``k`` in 1..L: the output of transformer block k, HF ``hidden_states[k]`` (for pre-LN models
  without the encoder's final layer norm, as HF's ``hidden_states``).

The forward pass runs the HF modules directly (no masking, no dropout or LayerDrop: inference
only), so it equals ``Wav2Vec2Model(x, output_hidden_states=True)`` in eval mode, op for op. Long
clips may be cut into overlapping windows of frames (``frames.plan_windows``); the CNN stays exact
in windows (the first layer's group norm uses whole-clip statistics from a streaming pre-pass).
"""
from __future__ import annotations

from typing import Sequence

import torch
from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2GroupNormConvLayer

from . import frames

CNN = "cnn"  # the CNN features (see the module docstring)
LAST = "last"  # the last transformer block, L
ALL = "all"  # every layer 0..L
WEIGHTED = "weighted"  # every layer 0..L, for a learned softmax-weighted sum (the evaluation's FE probe)
HEAR_NAMES = (CNN,)  # the names the HEAR module accepts besides integers
NORM_EPS = 1e-7  # variance floor of the per-clip input normalisation, as HF's Wav2Vec2FeatureExtractor
_GN_CHUNK = 32000  # first-conv outputs per step of the group-norm pre-pass (10 s at 3200 per second)
_NAMED = {LAST: lambda n: [n], ALL: lambda n: list(range(n + 1)), WEIGHTED: lambda n: list(range(n + 1)),
          CNN: lambda n: [CNN]}

Layer = int | str  # a resolved layer: an index 0..L or "cnn"


def normalize(audio: torch.Tensor) -> torch.Tensor:
    """Per-clip zero mean, unit variance: (B, n) float audio -> (B, n) float32.

    Statistics over each row in float64 (so a large DC offset costs no precision), then
    ``(x - mean) / sqrt(var + 1e-7)`` with the biased variance, as HF's feature extractor.
    """
    x = audio.double()
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return ((x - mean) / torch.sqrt(var + NORM_EPS)).float()


def _expected(names: Sequence[str]) -> str:
    """'an integer or 'cnn'' / 'an integer, 'last', 'all' or 'weighted'': the spellings of an error message."""
    quoted = [repr(n) for n in names]
    if not quoted:
        return "an integer"
    return "an integer" + "".join(f", {q}" for q in quoted[:-1]) + f" or {quoted[-1]}"


def resolve_layers(spec: int | str | None, num_layers: int, names: Sequence[str] = HEAR_NAMES) -> list[Layer]:
    """The layers a layer spec names, for a model with ``num_layers`` (L) transformer blocks.

    Spellings: ``None`` -> [L]; an int k in ``-(L + 1)..L`` -> [k], negative ones counting from
    the end as in Python (``-1`` = L, ``-(L + 1)`` = 0); a string of an int (heareval and the
    command line pass strings); and the names in ``names`` among ``"cnn"`` -> ["cnn"],
    ``"last"`` -> [L], ``"all"`` / ``"weighted"`` -> [0, ..., L]. The HEAR module accepts
    ``HEAR_NAMES``; the evaluation's FE accepts ``"last"``, ``"all"`` and ``"weighted"``.

    Raises ``ValueError`` for an unknown name or an index out of range and ``TypeError`` for
    anything that is neither an int nor a string, each naming what was expected.
    """
    if spec is None:
        return [num_layers]
    if isinstance(spec, str):
        if spec in names:
            return _NAMED[spec](num_layers)
        try:
            spec = int(spec)
        except ValueError:
            raise ValueError(f"layer {spec!r} is not accepted here: expected {_expected(names)}") from None
    if isinstance(spec, bool) or not isinstance(spec, int):
        raise TypeError(f"layer must be {_expected(names)}, got {type(spec).__name__}")
    if not -(num_layers + 1) <= spec <= num_layers:
        raise ValueError(f"layer {spec} is out of range for a {num_layers}-layer model: it has layers 0..{num_layers} "
                         f"(0 = transformer input, {num_layers} = last block; negative indices count from the end, "
                         f"-1 = last down to -{num_layers + 1} = 0); expected {_expected(names)}")
    return [spec if spec >= 0 else num_layers + 1 + spec]


def resolve_layer(spec: int | str | None, num_layers: int) -> Layer:
    """The single layer (0..L or ``"cnn"``) a HEAR ``layer`` option names (``resolve_layers`` with ``HEAR_NAMES``)."""
    return resolve_layers(spec, num_layers, HEAR_NAMES)[0]


def fold_pos_conv(conv: torch.nn.Conv1d) -> torch.nn.Conv1d:
    """A plain ``Conv1d`` equal to the weight-normed positional conv, with the norm computed once (frozen)."""
    folded = torch.nn.Conv1d(conv.in_channels, conv.out_channels, conv.kernel_size[0], padding=conv.padding[0],
                             groups=conv.groups, bias=conv.bias is not None)
    with torch.no_grad():
        folded.weight.copy_(conv.weight)
        if conv.bias is not None:
            folded.bias.copy_(conv.bias)
    return folded.requires_grad_(False).to(conv.weight.device)


class LayerExtractor:
    """Features of every stage of an HF ``Wav2Vec2Model`` (``backbone``, in eval mode).

    ``normalize``: apply ``normalize`` to the audio first (the checkpoint's flag). ``pos_conv``: a
    frozen positional conv (``fold_pos_conv``) to use instead of the backbone's weight-normed one,
    which is recomputed at every call (so a backbone that trains stays exact). ``window_frames``
    (None: one pass over the whole clip) and ``context_frames``: how ``frames`` cuts long clips.
    Audio is cast to the backbone's weight dtype; outputs keep the dtype the modules give.
    """

    def __init__(self, backbone: torch.nn.Module, normalize: bool, pos_conv: torch.nn.Conv1d | None = None,
                 window_frames: int | None = None, context_frames: int = 0) -> None:
        self.backbone = backbone
        self.normalize = bool(normalize)
        self.pos_conv = pos_conv
        self.window_frames = window_frames
        self.context_frames = context_frames
        if window_frames is not None:
            frames.plan_windows(window_frames + 1, window_frames, context_frames)  # validates both

    @property
    def num_layers(self) -> int:
        """L, the number of transformer blocks."""
        return int(self.backbone.config.num_hidden_layers)

    def dim(self, layer: Layer) -> int:
        """The feature width of ``layer``: ``conv_dim[-1]`` for ``"cnn"``, else ``hidden_size``."""
        config = self.backbone.config
        return int(config.conv_dim[-1] if layer == CNN else config.hidden_size)

    def run(self, x: torch.Tensor, last: int | None,
            stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One pass over (B, n) prepared samples (normalised if the model wants it, n >= 400).

        Returns ``(cnn, hidden)``: cnn (B, T, conv_dim) and ``hidden = [h_0, ..., h_last]``, each
        (B, T, hidden_size) (empty for ``last=None``), T = ``frames.num_frames(n)``.
        ``stats``: whole-clip group-norm (mean, rstd) for a window of a longer clip.
        """
        backbone = self.backbone
        dtype = backbone.feature_projection.projection.weight.dtype
        cnn = backbone.feature_projection.layer_norm(self._cnn(x.to(dtype), stats).transpose(1, 2))
        if last is None:
            return cnn, []
        encoder = backbone.encoder
        h = backbone.feature_projection.projection(cnn)
        embed = encoder.pos_conv_embed
        conv = embed.conv if self.pos_conv is None else self.pos_conv
        h = h + embed.activation(embed.padding(conv(h.transpose(1, 2)))).transpose(1, 2)
        if not backbone.config.do_stable_layer_norm:
            h = encoder.layer_norm(h)
        hidden = [h]
        for block in encoder.layers[:last]:
            h = block(h, attention_mask=None)
            hidden.append(h)
        return cnn, hidden

    def prepare(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, n) audio -> normalised (if the model wants it) and zero-padded to at least 400 samples."""
        x = normalize(audio) if self.normalize else audio
        if x.shape[1] < frames.RECEPTIVE_FIELD:
            x = torch.nn.functional.pad(x, (0, frames.RECEPTIVE_FIELD - x.shape[1]))
        return x

    def frames(self, audio: torch.Tensor, layers: Sequence[Layer]) -> list[torch.Tensor]:
        """Per-frame features of ``layers`` (resolved: ints 0..L or ``"cnn"``) for (B, n) audio at 16 kHz.

        Returns one float32 (B, T, D_k) tensor per layer, ``T = frames.num_frames(n)``; a clip
        longer than ``window_frames`` is computed window by window (``frames.plan_windows``).
        """
        x = self.prepare(audio)
        last = max((k for k in layers if k != CNN), default=None)
        n_frames = frames.num_frames(x.shape[1])
        windows = (frames.plan_windows(n_frames, self.window_frames, self.context_frames)
                   if self.window_frames is not None else [])
        if len(windows) <= 1:
            return [t.float() for t in self._select(self.run(x, last), layers)]
        stats = self._group_norm_stats(x)
        out = [torch.empty(x.shape[0], n_frames, self.dim(k), dtype=torch.float32, device=x.device) for k in layers]
        for w in windows:
            a, b = w.samples
            for dest, t in zip(out, self._select(self.run(x[:, a:b], last, stats), layers)):
                dest[:, w.keep_start:w.keep_stop] = t[:, w.keep_start - w.start:w.keep_stop - w.start].float()
        return out

    def time_means(self, audio: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
        """Time-means of transformer layers (ints 0..L) for (B, n) audio: (B, len(layers), hidden_size).

        In one pass (a clip within ``window_frames``) the mean is taken in the modules' dtype (as
        HF's ``hidden_states[k].mean(dim=1)``); windowed clips average the float32 frames.
        """
        x = self.prepare(audio)
        single = self.window_frames is None or frames.num_frames(x.shape[1]) <= self.window_frames
        if single:
            parts = self._select(self.run(x, max(layers)), layers)
        else:
            parts = self.frames(audio, layers)
        return torch.stack([t.mean(dim=1) for t in parts], dim=1)

    @staticmethod
    def _select(result: tuple[torch.Tensor, list[torch.Tensor]], layers: Sequence[Layer]) -> list[torch.Tensor]:
        cnn, hidden = result
        return [cnn if k == CNN else hidden[k] for k in layers]

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
        dtype = first.conv.weight.dtype
        kernel, stride = first.conv.kernel_size[0], first.conv.stride[0]
        n_out = (x.shape[1] - kernel) // stride + 1
        total = torch.zeros(x.shape[0], first.conv.out_channels, dtype=torch.float64, device=x.device)
        total_sq = torch.zeros_like(total)
        for j in range(0, n_out, _GN_CHUNK):
            j_end = min(j + _GN_CHUNK, n_out)
            y = first.conv(x[:, None, j * stride:(j_end - 1) * stride + kernel].to(dtype)).double()
            total += y.sum(dim=2)
            total_sq += (y * y).sum(dim=2)
        mean = total / n_out
        var = (total_sq / n_out - mean * mean).clamp_min(0.0)
        rstd = 1.0 / torch.sqrt(var + first.layer_norm.eps)
        return mean[:, :, None].float(), rstd[:, :, None].float()
