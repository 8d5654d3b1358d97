"""Named model sizes, as HF ``Wav2Vec2Config`` factories (torch + transformers only).

Every size keeps wav2vec 2.0's 7-layer convolutional feature encoder geometry
(kernels 10,3,3,3,3,2,2 and strides 5,2,2,2,2,2,2): a 400-sample receptive field and a
320-sample hop at 16 kHz, so frame k is centred at 12.5 + 20 k ms for every model here.
Only the widths change.

- ``base()``  the paper's BASE model (fairseq ``wav2vec2_base_librispeech``): 512-channel CNN with
  group norm on the first conv, 12 post-LN transformer layers of 768, 2 codebooks x 320 entries.
- ``small()`` trainable on a 2-core CPU: a CNN widening 64 -> 256 channels as the frame rate
  drops (as SEW does), 4 post-LN layers of 256, 2 codebooks x 64 entries, 30 negatives, no
  dropout. The bundled ``music-small`` and ``speech-small`` checkpoints use it (docs/training.md
  has the sweep that chose it).
- ``tiny()``  for tests: 32-channel CNN, 2 layers of 32, 2 codebooks x 8 entries.
"""
from __future__ import annotations

from transformers import Wav2Vec2Config

CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)  # samples / frames
CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)  # product 320 samples = 20 ms at 16 kHz

# fairseq BASE pretraining recipe (wav2vec2_base_librispeech.yaml + model defaults).
_FAIRSEQ_BASE_TRAINING = dict(
    hidden_dropout=0.1,  # fairseq `dropout`
    attention_dropout=0.1,
    activation_dropout=0.0,
    feat_proj_dropout=0.1,  # fairseq `dropout_input`
    feat_quantizer_dropout=0.1,  # fairseq `dropout_features`
    layerdrop=0.05,
    mask_time_prob=0.65,
    mask_time_length=10,
    mask_time_min_masks=2,
    num_negatives=100,
    contrastive_logits_temperature=0.1,
    diversity_loss_weight=0.1,
    num_codevector_groups=2,
    num_codevectors_per_group=320,
)


def config_fields() -> frozenset[str]:
    """The names ``Wav2Vec2Config`` accepts as overrides (its constructor's and its attributes)."""
    return frozenset(Wav2Vec2Config().to_dict()) - {"transformers_version", "model_type", "architectures"}


def _config(width: int | tuple[int, ...], hidden: int, layers: int, heads: int, ffn: int, pos_kernel: int,
            pos_groups: int, codevector_dim: int, proj_codevector_dim: int, **overrides) -> Wav2Vec2Config:
    unknown = sorted(set(overrides) - config_fields())
    if unknown:
        raise ValueError(f"unknown Wav2Vec2Config field(s) {unknown}; valid fields: {sorted(config_fields())}")
    width = overrides.pop("conv_dim", width)
    widths = (int(width),) * len(CONV_KERNEL) if isinstance(width, int) else tuple(int(w) for w in width)
    if len(widths) != len(CONV_KERNEL):
        raise ValueError(f"conv_dim needs {len(CONV_KERNEL)} widths (one per conv layer), got {len(widths)}")
    for name, expected in (("conv_kernel", CONV_KERNEL), ("conv_stride", CONV_STRIDE)):
        if name in overrides and tuple(overrides[name]) != expected:
            raise ValueError(f"{name} must stay {expected}: the 400-sample field and 320-sample hop are fixed")
    kwargs = dict(
        conv_dim=widths,
        conv_kernel=CONV_KERNEL,
        conv_stride=CONV_STRIDE,
        conv_bias=False,
        feat_extract_norm="group",  # fairseq extractor_mode=default: GroupNorm on the first conv only
        feat_extract_activation="gelu",
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        hidden_act="gelu",
        do_stable_layer_norm=False,  # post-LN, as BASE
        num_conv_pos_embeddings=pos_kernel,
        num_conv_pos_embedding_groups=pos_groups,
        codevector_dim=codevector_dim,
        proj_codevector_dim=proj_codevector_dim,
        apply_spec_augment=True,
        **_FAIRSEQ_BASE_TRAINING,
    )
    kwargs.update(overrides)
    return Wav2Vec2Config(**kwargs)


def base(**overrides) -> Wav2Vec2Config:
    """The paper's BASE configuration (about 95M parameters)."""
    return _config(512, 768, 12, 12, 3072, 128, 16, 256, 256, **overrides)


SMALL_CONV_DIM = (64, 128, 128, 256, 256, 256, 256)  # channels; SEW-style widening as the rate drops
# The CPU recipe's model-side choices (docs/training.md): no dropout or layerdrop, codebooks and
# negatives sized to what a 5M-parameter model learns within CPU-hours.
_SMALL_TRAINING = dict(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
                       feat_quantizer_dropout=0.0, layerdrop=0.0, num_codevectors_per_group=64, num_negatives=30)


def small(**overrides) -> Wav2Vec2Config:
    """The CPU-trainable size of the bundled checkpoints (about 4M parameters)."""
    return _config(SMALL_CONV_DIM, 256, 4, 4, 1024, 64, 16, 256, 128, **{**_SMALL_TRAINING, **overrides})


def tiny(**overrides) -> Wav2Vec2Config:
    """A model for tests: same conv geometry, a few thousand parameters per layer."""
    kwargs = dict(num_codevectors_per_group=8, num_negatives=10)
    kwargs.update(overrides)
    return _config(32, 32, 2, 2, 64, 16, 2, 16, 16, **kwargs)


SIZES = {"base": base, "small": small, "tiny": tiny}
