"""LightningModule: wav2vec 2.0 pretraining of an HF ``Wav2Vec2ForPreTraining`` with fairseq's recipe.

The loss is ``pretrain.losses.pretraining_loss``. Each micro-batch seeds torch's RNG from
``(seed, stream batch index, rank)``, so masks, negatives, Gumbel noise, dropout and layerdrop
depend only on the position in the data stream: a resumed run repeats exactly what an
uninterrupted run would do. The Gumbel temperature and learning rate are functions of the step.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import pytorch_lightning as pl
import torch
from transformers import Wav2Vec2ForPreTraining

from hear_w2v_music.checkpoints import CHECKPOINT_KEY, STATE_KEY, pretrain_metadata
from hear_w2v_music.layers import normalize
from pretrain.config import PretrainConfig
from pretrain.data import SegmentDataset, make_loader
from pretrain.losses import LossTerms, compute_mask, pretraining_loss, sample_negatives

log = logging.getLogger(__name__)


class Wav2Vec2Pretraining(pl.LightningModule):
    """Pretrain ``Wav2Vec2ForPreTraining`` (built from ``config.hf_config()``) on ``dataset``."""

    def __init__(self, config: PretrainConfig, dataset: SegmentDataset | None = None) -> None:
        super().__init__()
        self.config = config
        self.dataset = dataset
        torch.manual_seed(config.seed)
        self.model = Wav2Vec2ForPreTraining(config.hf_config())
        self.skipped_items = 0
        self.last_metrics: dict[str, float] = {}
        self._tic: float | None = None
        self._audio_seconds = 0.0
        self._warned_step = -1
        self.data_info: dict = {}  # data folders and amounts, recorded in checkpoints for provenance

    # ---- data -------------------------------------------------------------------------------
    def train_dataloader(self) -> torch.utils.data.DataLoader:
        """The endless batch stream, positioned after the batches of the steps already done."""
        if self.dataset is None:
            raise RuntimeError("Wav2Vec2Pretraining was built without a dataset")
        trainer = self.trainer
        consumed = trainer.global_step * trainer.accumulate_grad_batches
        c = self.config
        return make_loader(self.dataset, c.max_batch_samples, c.max_crop_samples, c.seed,
                           trainer.global_rank, trainer.world_size, consumed, c.num_workers)

    # ---- step -------------------------------------------------------------------------------
    def seed_batch(self, batch_index: int) -> torch.Generator:
        """Seed torch's global RNG for this micro-batch and return a generator for masks and negatives."""
        seed = int(np.random.SeedSequence([self.config.seed, max(batch_index, 0), self.global_rank])
                   .generate_state(1)[0])
        torch.manual_seed(seed)
        return torch.Generator().manual_seed(seed + 1)

    def compute_loss(self, waves: torch.Tensor, generator: torch.Generator, step: int | None = None) -> LossTerms:
        """Masks, negatives and the loss of ``waves`` ``(B, N)`` at update ``step``'s temperature.

        ``step`` defaults to the trainer's ``global_step``.
        """
        hf = self.model.config
        if self.config.normalize:
            waves = normalize(waves)
        frames = int(self.model._get_feat_extract_output_lengths(waves.shape[1]))
        mask = compute_mask(waves.shape[0], frames, hf.mask_time_prob, hf.mask_time_length,
                            hf.mask_time_min_masks, generator)
        per_utt = int(mask[0].sum())
        negatives = sample_negatives(waves.shape[0], per_utt, hf.num_negatives, generator)
        temperature = self.config.temperature(self.global_step if step is None else step)
        return pretraining_loss(self.model, waves, mask.to(waves.device), negatives.to(waves.device),
                                temperature, self.config.feature_grad_mult, self.config.feature_penalty)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """One micro-batch: ``batch["waves"]`` ``(B, N)`` float32 at 16 kHz."""
        self.skipped_items += int(batch["failed"])
        waves = batch["waves"]
        if self._tic is None:
            self._tic = time.perf_counter()
        terms = self.compute_loss(waves, self.seed_batch(int(batch["batch"])))
        if batch["empty"]:  # every item unreadable: a zero-loss step keeps DDP ranks in lockstep
            log.warning("batch %s: every item was unreadable; zero-loss step", batch["batch"])
            return terms.total * 0.0
        self._audio_seconds += waves.numel() / self.config.sample_rate
        metrics = {
            "loss": terms.total.detach(), "contrastive": terms.contrastive, "diversity": terms.diversity,
            "feature_penalty": terms.feature_penalty, "code_perplexity": terms.code_perplexity,
            "prob_perplexity": terms.prob_perplexity, "accuracy": terms.accuracy, "chance": terms.chance,
            "effective_negatives": terms.effective_negatives, "identical_negatives": terms.identical_negatives,
        }
        self.log_dict(metrics, prog_bar=False, on_step=True, batch_size=waves.shape[0])
        self.log("total", terms.total.detach(), prog_bar=True, on_step=True, batch_size=waves.shape[0])
        self.log("ppl", terms.code_perplexity, prog_bar=True, on_step=True, batch_size=waves.shape[0])
        self.last_metrics = {k: float(v) for k, v in metrics.items()}
        return terms.total

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Record the gradient norm, temperature, lr and throughput of this update."""
        grads = [p.grad.detach().float().norm() for p in self.parameters() if p.grad is not None]
        grad_norm = float(torch.stack(grads).norm()) if grads else 0.0
        now = time.perf_counter()
        elapsed = now - self._tic if self._tic is not None else float("nan")
        throughput = self._audio_seconds * self.trainer.world_size / elapsed if elapsed > 0 else float("nan")
        self._tic, self._audio_seconds = now, 0.0
        extra = {"grad_norm": grad_norm, "temperature": self.config.temperature(self.global_step),
                 "lr": optimizer.param_groups[0]["lr"], "audio_s_per_s": throughput,
                 "skipped_items": float(self.skipped_items)}
        self.log_dict(extra, on_step=True)
        self.log("audio_s/s", throughput, prog_bar=True, on_step=True)
        self.last_metrics.update(extra)
        self._check_collapse()

    def _check_collapse(self) -> None:
        """Warn (rank 0, at most once per ``log_every_steps``) when the contrastive task turns trivial.

        Two signs: code perplexity near the number of groups (few codes in use), and an accuracy
        that only looks high because many drawn negatives share the positive's code (their logits
        are masked, so the task has fewer candidates than ``num_negatives``).
        """
        groups = self.model.config.num_codevector_groups
        m = self.last_metrics
        step = self.global_step
        if not self.trainer.is_global_zero or step < self.config.warmup() \
                or step - self._warned_step < self.config.log_every_steps:
            return
        ppl = m.get("code_perplexity", float("inf"))
        identical = m.get("identical_negatives", 0.0)
        if ppl < self.config.collapse_warn_factor * groups:
            self._warned_step = step
            log.warning("!!! CODEBOOK COLLAPSE? step %d: code perplexity %.2f is near the number of groups (%d); "
                        "the contrastive task becomes trivial. Lower the lr, raise diversity_loss_weight "
                        "or check the data.", step, ppl, groups)
        elif identical > self.config.identical_warn_share:
            self._warned_step = step
            log.warning("!!! INFLATED ACCURACY? step %d: %.0f%% of the negatives share the positive's code, "
                        "so only %.1f of %d negatives count; accuracy %.3f must be judged against chance %.3f, "
                        "not 1/%d.", step, 100 * identical, m.get("effective_negatives", float("nan")),
                        self.model.config.num_negatives, m.get("accuracy", float("nan")),
                        m.get("chance", float("nan")), self.model.config.num_negatives + 1)

    # ---- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self):
        """Adam (decoupled weight decay, as fairseq's) with warm-up then linear decay to 0."""
        c = self.config
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=c.lr, betas=tuple(c.adam_betas),
                                      eps=c.adam_eps, weight_decay=c.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, c.lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---- checkpoints ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Add the ``CHECKPOINT_KEY`` entry (``hear_w2v_music.checkpoints``) that rebuilds the model without Lightning."""
        checkpoint[CHECKPOINT_KEY] = pretrain_metadata(self.model.config.to_dict(), self.config.normalize,
                                                       self.config.to_dict())
        checkpoint[STATE_KEY] = {"skipped_items": self.skipped_items, "data": self.data_info}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore the counters saved by ``on_save_checkpoint``."""
        self.skipped_items = int(checkpoint.get(STATE_KEY, {}).get("skipped_items", 0))
