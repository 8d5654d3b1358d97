"""The wav2vec 2.0 objective: masking, negative sampling, loss terms, gradient scaling, learning."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pretrain import config as config_lib
from pretrain.losses import compute_mask, grad_multiply, sample_negatives
from pretrain.module import Wav2Vec2Pretraining


pytestmark = pytest.mark.usefixtures("one_thread")


def _module(*overrides: str) -> Wav2Vec2Pretraining:
    return Wav2Vec2Pretraining(config_lib.resolve("tiny", overrides)).train()


def _waves(batch: int = 2, samples: int = 16000) -> torch.Tensor:
    t = np.arange(samples) / 16000
    rows = [np.sin(2 * np.pi * (220 + 110 * i) * t) + 0.05 * np.random.default_rng(i).standard_normal(samples)
            for i in range(batch)]
    return torch.tensor(np.stack(rows), dtype=torch.float32)


def test_mask_has_spans_and_the_same_count_per_row():
    g = torch.Generator().manual_seed(0)
    mask = compute_mask(4, 200, 0.65, 10, 2, g)
    counts = mask.sum(1)
    assert mask.shape == (4, 200) and mask.dtype == torch.bool
    assert (counts == counts[0]).all()
    # fairseq's overlapping spans mask roughly half the frames at p = 0.65
    assert 0.3 < counts[0].item() / 200 < 0.7


def test_mask_respects_minimum_spans_on_short_input():
    mask = compute_mask(3, 12, 0.01, 10, 2, torch.Generator().manual_seed(1))
    assert mask.sum(1).min() >= 10  # at least one full span survives in every row


def test_mask_rejects_input_shorter_than_a_span():
    with pytest.raises(ValueError, match="too few"):
        compute_mask(1, 8, 0.65, 10, 2, torch.Generator())


def test_negatives_come_from_the_same_utterance_and_never_the_positive():
    batch, per_utt, k = 3, 7, 50
    neg = sample_negatives(batch, per_utt, k, torch.Generator().manual_seed(0))
    assert neg.shape == (batch * per_utt, k)
    own = torch.arange(batch * per_utt)[:, None]
    assert not (neg == own).any()
    assert ((neg // per_utt) == (own // per_utt)).all()
    # every other masked frame of the utterance can be drawn
    for m in range(batch * per_utt):
        drawn = set(neg[m].tolist())
        expected = {(m // per_utt) * per_utt + j for j in range(per_utt)} - {m}
        assert drawn == expected


def test_negatives_need_two_masked_frames():
    with pytest.raises(ValueError, match="at least 2"):
        sample_negatives(2, 1, 5, torch.Generator())


def test_every_loss_term_is_finite_and_normalised_per_frame():
    module = _module()
    terms = module.compute_loss(_waves(), torch.Generator().manual_seed(0))
    for name in ("total", "contrastive", "diversity", "feature_penalty", "code_perplexity", "prob_perplexity"):
        assert math.isfinite(float(getattr(terms, name))), name
    cfg = module.model.config
    # per masked frame: contrastive is at most log(1 + K), diversity in [0, 1]
    assert 0 <= float(terms.contrastive) <= math.log(1 + cfg.num_negatives) + 1
    assert 0 <= float(terms.diversity) <= 1
    groups_vars = cfg.num_codevector_groups * cfg.num_codevectors_per_group
    assert cfg.num_codevector_groups <= float(terms.prob_perplexity) <= groups_vars
    expected = float(terms.contrastive) + cfg.diversity_loss_weight * float(terms.diversity) \
        + 10.0 * float(terms.feature_penalty)
    assert float(terms.total) == pytest.approx(expected, rel=1e-5)


def test_feature_grad_mult_scales_cnn_gradients_only():
    grads = {}
    for mult in (1.0, 0.1):
        module = _module(f"feature_grad_mult={mult}")
        torch.manual_seed(3)
        module.compute_loss(_waves(), torch.Generator().manual_seed(0)).total.backward()
        conv = module.model.wav2vec2.feature_extractor.conv_layers[1].conv.weight.grad.clone()
        head = module.model.project_hid.weight.grad.clone()
        grads[mult] = (conv, head)
    torch.testing.assert_close(grads[0.1][0], 0.1 * grads[1.0][0], rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(grads[0.1][1], grads[1.0][1], rtol=1e-4, atol=1e-8)


def test_grad_multiply_is_identity_forward():
    x = torch.randn(3, requires_grad=True)
    y = grad_multiply(x, 0.5)
    assert torch.equal(y, x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3,), 0.5))


def test_loss_decreases_on_a_repeated_batch():
    module = _module("model.layerdrop=0.0", "model.hidden_dropout=0.0", "model.attention_dropout=0.0",
                     "model.feat_proj_dropout=0.0", "model.feat_quantizer_dropout=0.0")
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-3)
    waves = _waves()
    losses = []
    for _ in range(40):
        torch.manual_seed(0)
        terms = module.compute_loss(waves, torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        losses.append(float(terms.total))
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_temperature_and_lr_schedules():
    cfg = config_lib.resolve("base")
    assert cfg.temperature(0) == 2.0
    assert cfg.temperature(10_000) == pytest.approx(2 * 0.999995 ** 10_000)
    assert cfg.temperature(400_000) == 0.5
    assert cfg.lr_factor(0) == pytest.approx(1 / 32000)
    assert cfg.lr_factor(32_000) == pytest.approx(1.0)
    assert cfg.lr_factor(400_000) == 0.0
    small = config_lib.resolve("small", ["max_steps=1000"])
    # the auto decay reaches the floor at ~69 % of training, as fairseq's 277k of 400k
    assert small.temperature(650) > 0.5 and small.temperature(700) == 0.5


def test_a_batch_of_unreadable_items_is_a_zero_loss_step():
    from pretrain.data import collate

    module = _module()
    loss = module.training_step(collate([None, None], 0), 0)
    assert float(loss) == 0.0 and loss.requires_grad
    assert module.skipped_items == 2
