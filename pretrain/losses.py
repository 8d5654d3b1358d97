"""The wav2vec 2.0 pretraining objective (fairseq BASE recipe) over an HF ``Wav2Vec2ForPreTraining``.

HF's own ``forward`` lacks the feature penalty, ``feature_grad_mult``, the hard code perplexity
and quantises every frame; this module calls the submodules itself, as fairseq does:

1. CNN features ``(B, C, T)``, gradient scaled by ``feature_grad_mult``; feature penalty = mean of
   their squares (before the layer norm).
2. Layer norm -> projection -> input dropout; masked frames replaced by ``masked_spec_embed``.
3. Transformer -> ``project_hid`` on masked frames only = predictions ``c``.
4. Layer-normed features of masked frames -> feature dropout -> Gumbel quantiser -> ``project_q``
   = targets ``q``.
5. InfoNCE over cosine similarities / ``contrastive_logits_temperature`` between ``c_t`` and
   ``[q_t, K negatives]``; negatives are other masked frames of the same utterance, never ``t``.

Honest signals (docs/training.md): ``accuracy`` counts a frame right only when the positive's logit
is strictly above every negative's (ties are wrong, so a collapsed model whose logits all tie scores 0,
as fairseq's rule); a negative whose quantized code equals the positive's is no negative (its logit is
masked), so ``effective_negatives`` and ``chance = mean(1 / (1 + effective negatives))`` are what the
accuracy must be judged against; ``identical_negatives`` is the share of drawn negatives lost that way.

Every loss is normalised per masked frame: ``total = contrastive + w_div * diversity + w_feat * penalty``
with ``diversity = (G V - prob_perplexity) / (G V)``, as fairseq's sum divided by ``sample_size``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import Wav2Vec2ForPreTraining


class _GradMultiply(torch.autograd.Function):
    """Identity forward; gradient multiplied by ``scale`` backward (fairseq ``GradMultiply``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # noqa: D102
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return grad * ctx.scale, None


def grad_multiply(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Return ``x`` unchanged, with its gradient scaled by ``scale`` (1.0 returns ``x`` itself)."""
    return x if scale == 1.0 else _GradMultiply.apply(x, scale)


def compute_mask(batch: int, frames: int, mask_prob: float, span: int, min_spans: int,
                 generator: torch.Generator) -> torch.Tensor:
    """fairseq's static span mask with ``require_same_masks``: a bool mask ``(batch, frames)``.

    Each row draws ``int(mask_prob * frames / span + U[0,1))`` (at least ``min_spans``) distinct
    span starts in ``[0, frames - span]`` and masks ``span`` frames from each (spans may overlap).
    Rows are then thinned at random to the smallest row count, so every utterance has the same
    number of masked frames (needed to sample negatives per utterance).
    """
    if frames < span + 1:
        raise ValueError(f"{frames} frames are too few for mask spans of {span} frames: "
                         f"use longer crops (at least {(span + 1) * 320 + 80} samples)")
    n_starts = frames - span + 1
    num = (mask_prob * frames / span + torch.rand(batch, generator=generator)).long()
    num = num.clamp(min=min_spans, max=n_starts)
    order = torch.rand(batch, n_starts, generator=generator).argsort(dim=1)
    chosen = torch.arange(n_starts)[None, :] < num[:, None]  # first num[b] of a random order
    starts = torch.zeros(batch, n_starts, dtype=torch.bool)
    starts.scatter_(1, order, chosen)
    mask = torch.zeros(batch, frames, dtype=torch.bool)
    for offset in range(span):
        mask[:, offset:offset + n_starts] |= starts
    # require_same_masks: keep a random subset of min_count masked frames in every row
    min_count = int(mask.sum(1).min())
    priority = torch.rand(batch, frames, generator=generator).masked_fill(~mask, 2.0)
    keep = priority.argsort(dim=1)[:, :min_count]
    same = torch.zeros_like(mask)
    same.scatter_(1, keep, True)
    return same


def sample_negatives(batch: int, per_utt: int, num_negatives: int,
                     generator: torch.Generator) -> torch.Tensor:
    """Indices of negatives among the masked frames, shape ``(batch * per_utt, num_negatives)``.

    Masked frames are numbered ``b * per_utt + i`` (utterance ``b``, ``i``-th masked frame). The
    negatives of frame ``(b, i)`` are uniform over ``(b, j)`` with ``j != i``: same utterance, never
    the positive (fairseq ``sample_negatives`` with ``cross_sample_negatives=0``).
    """
    if per_utt < 2:
        raise ValueError(f"need at least 2 masked frames per utterance to sample negatives, got {per_utt}")
    own = torch.arange(per_utt)[:, None]  # (per_utt, 1)
    draw = torch.randint(0, per_utt - 1, (batch, per_utt, num_negatives), generator=generator)
    draw = draw + (draw >= own).long()  # skip the positive, keep the rest uniform
    return (draw + torch.arange(batch)[:, None, None] * per_utt).reshape(batch * per_utt, num_negatives)


@dataclass
class LossTerms:
    """Scalar tensors of one forward pass, each normalised per masked frame.

    ``total`` carries the gradient; the others are for logging (``*_perplexity`` summed over groups;
    ``accuracy`` counts ties as wrong; ``chance`` is its value for uniform guessing among the
    ``effective_negatives`` that differ from the positive; ``identical_negatives`` is the share of
    drawn negatives whose code equals the positive's).
    """

    total: torch.Tensor
    contrastive: torch.Tensor
    diversity: torch.Tensor
    feature_penalty: torch.Tensor
    code_perplexity: torch.Tensor
    prob_perplexity: torch.Tensor
    accuracy: torch.Tensor
    masked_frames: int
    chance: torch.Tensor | None = None
    effective_negatives: torch.Tensor | None = None
    identical_negatives: torch.Tensor | None = None


def quantize(model: Wav2Vec2ForPreTraining, feats: torch.Tensor, temperature: float
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gumbel-quantise features ``(M, C)`` -> codevectors ``(M, codevector_dim)``.

    Returns ``(codevectors, code_perplexity, prob_perplexity)``: the perplexities of the hard
    choices and of the mean softmax, each summed over the groups (max ``G * V``).
    """
    quantizer = model.quantizer
    groups, num_vars = quantizer.num_groups, quantizer.num_vars
    logits = quantizer.weight_proj(feats).float().view(-1, groups, num_vars)  # (M, G, V)
    hard_idx = logits.argmax(-1)
    hard = F.one_hot(hard_idx, num_vars).float().mean(0)  # (G, V)
    code_ppl = torch.exp(-(hard * torch.log(hard + 1e-7)).sum(-1)).sum()
    avg_probs = torch.softmax(logits, -1).mean(0)
    prob_ppl = torch.exp(-(avg_probs * torch.log(avg_probs + 1e-7)).sum(-1)).sum()
    if model.training:
        onehot = F.gumbel_softmax(logits, tau=temperature, hard=True)
    else:
        onehot = F.one_hot(hard_idx, num_vars).float()
    book = quantizer.codevectors.view(groups, num_vars, -1).float()  # (G, V, d)
    codes = torch.einsum("mgv,gvd->mgd", onehot, book).reshape(feats.shape[0], -1)
    return codes.to(feats.dtype), code_ppl, prob_ppl


def pretraining_loss(model: Wav2Vec2ForPreTraining, waves: torch.Tensor, mask: torch.Tensor,
                     negatives: torch.Tensor, temperature: float, feature_grad_mult: float = 0.1,
                     feature_penalty_weight: float = 10.0) -> LossTerms:
    """The wav2vec 2.0 loss of a batch.

    Args:
        waves: ``(B, N)`` float audio at 16 kHz (already normalised if the recipe asks).
        mask: ``(B, T)`` bool, ``T`` = CNN frames of ``N`` samples, the same count ``P`` per row.
        negatives: ``(B * P, K)`` long indices into the ``B * P`` masked frames (``sample_negatives``).
        temperature: Gumbel-softmax temperature of this step.
    """
    cfg = model.config
    w2v = model.wav2vec2
    feats = grad_multiply(w2v.feature_extractor(waves), feature_grad_mult)  # (B, C, T)
    feats = feats.transpose(1, 2)  # (B, T, C)
    if feats.shape[1] != mask.shape[1]:
        raise ValueError(f"mask has {mask.shape[1]} frames, the CNN gives {feats.shape[1]}")
    feature_penalty = feats.float().pow(2).mean()
    hidden, normed = w2v.feature_projection(feats)
    hidden = hidden.clone()
    hidden[mask] = w2v.masked_spec_embed.to(hidden.dtype)
    context = w2v.encoder(hidden).last_hidden_state  # (B, T, H)
    preds = model.project_hid(context[mask])  # (M, D)
    targets, code_ppl, prob_ppl = quantize(model, model.dropout_features(normed[mask]), temperature)
    targets = model.project_q(targets)  # (M, D)
    candidates = torch.cat([targets[:, None], targets[negatives]], dim=1)  # (M, 1 + K, D)
    logits = F.cosine_similarity(preds.float()[:, None], candidates.float(), dim=-1)
    logits = logits / cfg.contrastive_logits_temperature
    neg_is_pos = (targets[:, None] == targets[negatives]).all(-1)  # identical codes are no negatives
    logits[:, 1:] = logits[:, 1:].masked_fill(neg_is_pos, float("-inf"))
    zeros = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    contrastive = F.cross_entropy(logits, zeros)  # mean over masked frames
    num_codes = cfg.num_codevector_groups * cfg.num_codevectors_per_group
    diversity = (num_codes - prob_ppl) / num_codes
    total = contrastive + cfg.diversity_loss_weight * diversity + feature_penalty_weight * feature_penalty
    with torch.no_grad():
        accuracy, chance, effective, identical = contrastive_signals(logits, neg_is_pos)
    return LossTerms(total, contrastive.detach(), diversity.detach(), feature_penalty.detach(),
                     code_ppl.detach(), prob_ppl.detach(), accuracy, int(mask.sum()),
                     chance, effective, identical)


def contrastive_signals(logits: torch.Tensor, neg_is_pos: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Honest accuracy, its chance level, effective negatives and identical share of a batch.

    Args:
        logits: ``(M, 1 + K)``, the positive first; negatives identical to it already ``-inf``.
        neg_is_pos: ``(M, K)`` bool, negative ``k`` of frame ``m`` has the positive's code.

    Returns scalars ``(accuracy, chance, effective_negatives, identical_negatives)``: accuracy counts
    a frame right only if its positive is strictly above every negative (a tie is wrong);
    chance = mean over frames of ``1 / (1 + effective negatives)``.
    """
    accuracy = (logits[:, 0] > logits[:, 1:].max(-1).values).float().mean()
    effective = (~neg_is_pos).sum(-1).float()
    chance = (1.0 / (1.0 + effective)).mean()
    return accuracy, chance, effective.mean(), neg_is_pos.float().mean()
