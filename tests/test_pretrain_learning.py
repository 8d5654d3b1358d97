"""Guards on learning: our loss equals HF's on identical inputs, honest accuracy, and memorisation.

A change that stops pretraining from learning (a loss bug, a recipe that collapses) fails here.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2ForPreTraining

from pretrain import config as config_lib
from pretrain.diagnose import memorise
from pretrain.losses import compute_mask, contrastive_signals, pretraining_loss, sample_negatives

pytestmark = pytest.mark.usefixtures("one_thread")
NO_DROPOUT = ["model.layerdrop=0", "model.hidden_dropout=0", "model.attention_dropout=0",
              "model.feat_proj_dropout=0", "model.feat_quantizer_dropout=0"]


def _clips(count: int = 2, seconds: float = 2.0, seed: int = 0) -> torch.Tensor:
    """Sequences of 0.25 s harmonic notes at random pitches: frames that differ, as music does."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    out = np.zeros((count, n), np.float32)
    for c in range(count):
        for start in range(0, n, 4000):
            f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
            seg = slice(start, start + 4000)
            out[c, seg] = 0.3 * sum(np.sin(2 * np.pi * f0 * k * t[seg]) / k for k in range(1, 6)) \
                * np.exp(-3 * (t[seg] - t[start]))
    return torch.from_numpy(out)


def _hf_negatives(mask: torch.Tensor, negatives: torch.Tensor, num_negatives: int) -> torch.Tensor:
    """Our negatives (indices into the masked frames) as HF's ``(B, T, K)`` indices into all B*T frames."""
    flat = mask.flatten().nonzero().squeeze(1)  # masked frame m -> flat index b*T + t
    out = torch.zeros(mask.numel(), num_negatives, dtype=torch.long)
    out[flat] = flat[negatives]
    return out.view(*mask.shape, num_negatives)


def _batch(model: Wav2Vec2ForPreTraining, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two 1.5 s clips, the model's fairseq mask and negatives: ``(waves, mask, negatives)``."""
    waves = _clips(2, 1.5)
    frames = int(model._get_feat_extract_output_lengths(waves.shape[1]))
    g = torch.Generator().manual_seed(seed)
    hf = model.config
    mask = compute_mask(2, frames, hf.mask_time_prob, hf.mask_time_length, hf.mask_time_min_masks, g)
    return waves, mask, sample_negatives(2, int(mask[0].sum()), hf.num_negatives, g)


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_loss_matches_hf_wav2vec2_for_pretraining(size):
    """Same weights, audio, mask and negatives: contrastive loss and code perplexity equal HF's forward."""
    cfg = config_lib.resolve(size, NO_DROPOUT)
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(cfg.hf_config()).eval()
    hf = model.config
    waves, mask, negatives = _batch(model, seed=0)
    with torch.no_grad():
        ours = pretraining_loss(model, waves, mask, negatives, temperature=2.0, feature_grad_mult=1.0,
                                feature_penalty_weight=0.0)
        theirs = model(waves, mask_time_indices=mask,
                       sampled_negative_indices=_hf_negatives(mask, negatives, hf.num_negatives))
    masked = int(mask.sum())
    assert float(ours.contrastive) == pytest.approx(float(theirs.contrastive_loss) / masked, rel=1e-5)
    # eval mode: both perplexities come from the hard code choices of the masked frames
    assert float(ours.code_perplexity) == pytest.approx(float(theirs.codevector_perplexity), rel=1e-4)
    assert 0 < float(ours.contrastive) < math.log(hf.num_negatives + 1) + 2


def test_prob_perplexity_matches_hf_in_training_mode():
    """With Gumbel noise on, the soft-code perplexity (the diversity loss) still equals HF's."""
    cfg = config_lib.resolve("tiny", NO_DROPOUT)
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(cfg.hf_config()).train()
    hf = model.config
    waves, mask, negatives = _batch(model, seed=1)
    with torch.no_grad():
        ours = pretraining_loss(model, waves, mask, negatives, 2.0, 1.0, 0.0)
        theirs = model(waves, mask_time_indices=mask,
                       sampled_negative_indices=_hf_negatives(mask, negatives, hf.num_negatives))
    assert float(ours.prob_perplexity) == pytest.approx(float(theirs.codevector_perplexity), rel=1e-4)
    # HF's diversity loss is a sum over masked frames; ours is per masked frame
    assert float(ours.diversity) * int(mask.sum()) == pytest.approx(float(theirs.diversity_loss), rel=1e-4)


def test_accuracy_counts_ties_as_wrong_and_chance_counts_only_distinct_negatives():
    logits = torch.tensor([[1.0, 1.0, 1.0],      # every logit ties: wrong (HF's argmax says right)
                           [2.0, 1.0, 0.0],      # strictly best: right
                           [1.0, float("-inf"), float("-inf")],  # both negatives share the code: right, chance 1
                           [0.5, 0.5, 0.0]])     # tie with one negative: wrong
    neg_is_pos = torch.tensor([[False, False], [False, False], [True, True], [False, False]])
    accuracy, chance, effective, identical = contrastive_signals(logits, neg_is_pos)
    assert float(accuracy) == pytest.approx(2 / 4)
    assert float(chance) == pytest.approx((1 / 3 + 1 / 3 + 1.0 + 1 / 3) / 4)
    assert float(effective) == pytest.approx(6 / 4)
    assert float(identical) == pytest.approx(2 / 8)


def test_a_collapsed_model_scores_zero_accuracy():
    """Predictions without information (zero vectors): every logit ties, the plateau, accuracy 0.

    The old rule (argmax == 0) scored this 1.0: ``argmax`` returns the positive's index on a tie.
    """
    cfg = config_lib.resolve("tiny", NO_DROPOUT)
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(cfg.hf_config()).eval()
    with torch.no_grad():
        model.project_hid.weight.zero_()
        model.project_hid.bias.zero_()
    waves, mask, negatives = _batch(model, seed=0)
    with torch.no_grad():
        terms = pretraining_loss(model, waves, mask, negatives, 2.0, 1.0, 0.0)
    assert float(terms.accuracy) == 0.0
    assert float(terms.contrastive) == pytest.approx(
        -float(torch.log(1 / (1 + terms.effective_negatives))), rel=0.05)  # ln(1 + effective K)


# Memorisation: each recipe family must fit two clips it sees at every update. The tiny width keeps
# each run to seconds; codebooks and negatives are the tiny size's (2 x 8 codes, 10 negatives).
RECIPES = {
    # the paper's (fairseq BASE) ingredients: group-norm CNN, post-LN, feature penalty 10, CNN
    # gradient x 0.1, fairseq's dropouts off for memorising, Gumbel 2 -> 0.5
    "base-ingredients": ["feature_grad_mult=0.1", "feature_penalty=10", *NO_DROPOUT],
    # the CPU recipe of the small preset: no penalty, full CNN gradient, no dropout
    "cpu-recipe": ["feature_grad_mult=1", "feature_penalty=0", *NO_DROPOUT],
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_memorises_two_clips(recipe):
    config = config_lib.resolve("tiny", ["max_steps=300", "warmup_steps=30", "lr=2e-3", *RECIPES[recipe]])
    result = memorise(config, _clips(2, 2.0))
    summary = result.summary()
    assert summary["contrastive"] < 0.5 * result.plateau, summary
    assert summary["accuracy"] > 5 * summary["chance"], summary


def test_small_preset_is_the_cpu_recipe():
    """The bundled models' recipe: what docs/training.md's sweep chose (guards silent preset edits)."""
    cfg = config_lib.resolve("small")
    hf = cfg.hf_config()
    assert cfg.feature_penalty == 0 and cfg.feature_grad_mult == 1
    assert hf.num_negatives == 30 and hf.num_codevectors_per_group == 64
    assert hf.conv_dim == (64, 128, 128, 256, 256, 256, 256)
    assert hf.hidden_dropout == 0 and hf.layerdrop == 0
    assert hf.mask_time_prob == 0.3 and cfg.max_steps == 300  # the schedule both corpora escape with


def test_every_model_field_can_be_set_conv_dim_included():
    """`--set model.conv_dim=[...]` once crashed (conv_dim was also a positional argument)."""
    cfg = config_lib.resolve("small", ["model.conv_dim=[32,64,64,128,128,128,128]", "model.num_negatives=20"])
    hf = cfg.hf_config()
    assert hf.conv_dim == (32, 64, 64, 128, 128, 128, 128) and hf.num_negatives == 20
    assert config_lib.resolve("tiny", ["model.conv_dim=48"]).hf_config().conv_dim == (48,) * 7
    with pytest.raises(ValueError, match="7 widths"):
        config_lib.resolve("tiny", ["model.conv_dim=[8,8]"])
    with pytest.raises(ValueError, match="conv_stride must stay"):
        config_lib.resolve("tiny", ["model.conv_stride=[5,2,2,2,2,2,1]"])
    with pytest.raises(ValueError, match="layerdorp"):
        config_lib.resolve("tiny", ["model.layerdorp=0"])
