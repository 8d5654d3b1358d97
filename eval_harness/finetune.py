"""The paper's downstream protocol (section 2.2) on NSynth, and the `finetune` entry point.

The classifier is the time-mean of the last transformer block's output followed by one linear
layer (112 pitch or 11 instrument-family outputs), trained with cross-entropy in one of three modes:

- ``fe``  backbone frozen, Adam lr 1e-3 on the linear layer only (run on cached embeddings, `embedding_cache` + `probe`);
- ``ft1`` the whole network trained: Adam lr 1e-5 for the backbone, 1e-4 for the linear layer;
- ``ft2`` as ft1 but the CNN feature encoder frozen (its 7 conv layers; the feature projection and
  the transformer train), i.e. fairseq's ``feature_grad_mult = 0``.

Early stopping after `patience` (10) epochs without a lower mean validation loss; test metrics come
from the best-validation weights. Regularisation during FT (the paper is silent): the dropouts of the
model's config stay active in training, while SpecAugment-style time masking and layerdrop are OFF by
default (``mask_time_prob = 0``, ``layerdrop = 0``) because the paper's head sees the whole 4 s note and
reports no masking; both are options (fairseq's ASR fine-tuning uses 0.65 / 0.1 for comparison).
"""
from __future__ import annotations

import json
import logging
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from eval_harness import nsynth
from pretrain.fileio import remove_temporaries, write_json_atomic
from eval_harness.compare import predictions_json, summarize
from eval_harness.metrics import check_labels, confusion_matrix
from eval_harness.embedding_cache import EmbeddingCache, cached_features
from eval_harness.featurizers import Encoder, Featurizer, resolve_layers
from eval_harness.probe import PROBES, head_predict, train_head
from eval_harness.stats import N_BOOT
from eval_harness.training import EarlyStopping, FitConfig, fit, predict

from hear_w2v_music.layers import WEIGHTED, normalize
from hear_w2v_music.precision import resolve_precision

log = logging.getLogger(__name__)

MODES = ("fe", "ft1", "ft2")
FT_LR_BACKBONE = 1e-5  # the paper's Adam lr for the pretrained part in FT1/FT2
FT_LR_HEAD = 1e-4  # ... and for the output layer


@dataclass
class FinetuneConfig:
    """Everything that defines one run (written to RUN/config.json; a resumed run must match it)."""

    task: str
    mode: str
    model: str
    data: str
    batch_size: int = 16
    max_epochs: int = 100
    patience: int = 10
    seed: int = 0
    device: str = "auto"  # "auto": cuda when available, else cpu
    precision: str = "auto"  # "auto" (bf16 where the device computes it natively, else fp32), "fp32" or "bf16"
    layer: str = "last"  # FE only: "last", "all", "weighted" or an index 0..L
    max_per_split: int | str | None = None  # N or "TRAIN,VALID,TEST" (nsynth.split_limits)
    mask_time_prob: float = 0.0  # FT only: SpecAugment-style time masking probability (HF semantics)
    layerdrop: float = 0.0  # FT only: probability of skipping a transformer block per step
    embed_batch_size: int = 8
    probe: str = "linear"  # FE only: "linear" (the paper's) or "mlp" (MARBLE's)
    standardize: bool = False  # FE only: standardise probe inputs (train mean/std); log-mel always does
    seeds: int = 1  # FE only: train the probe with seeds seed, seed+1, ...; metrics are means over them
    n_boot: int = N_BOOT  # bootstrap replicates of the accuracy's interval

    def __post_init__(self) -> None:
        nsynth.get_task(self.task)
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.mode != "fe" and (self.layer != "last" or self.probe != "linear" or self.standardize
                                  or self.seeds != 1):
            raise ValueError("--layer, --probe, --standardize and --seeds apply to FE only (FT1/FT2 train the "
                             "whole network with a linear layer on the last transformer block)")
        if self.probe not in PROBES:
            raise ValueError(f"unknown probe {self.probe!r}: expected one of {', '.join(PROBES)}")
        if self.seeds < 1 or self.n_boot < 1:
            raise ValueError("seeds and n_boot must be at least 1")
        if not 0.0 <= self.mask_time_prob < 1.0 or not 0.0 <= self.layerdrop < 1.0:
            raise ValueError("mask_time_prob and layerdrop must lie in [0, 1)")
        if self.precision == "auto":  # stored resolved: RUN/config.json and the FE cache key never mix the two
            self.precision, reason = resolve_precision("auto", self.resolved_device())
            log.info("precision %s (%s)", self.precision, reason)
        resolve_precision(self.precision)  # validates

    @property
    def probe_seeds(self) -> list[int]:
        """The seeds of the probe's repeats: seed, seed + 1, ... (the data subset always follows `seed`)."""
        return [self.seed + k for k in range(self.seeds)]

    def resolved_device(self) -> str:
        """The torch device string to run on."""
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device


def finetune_command(cfg: FinetuneConfig, out: Path | str) -> str:
    """The `w2v-music finetune` command line that reproduces `cfg` (defaults left out)."""
    args = ["w2v-music", "finetune", "--task", cfg.task, "--mode", cfg.mode, "--model", cfg.model,
            "--data", str(cfg.data), "--out", str(out), "--seed", str(cfg.seed)]
    args += ["--precision", cfg.precision]  # always: "auto" may resolve otherwise on another machine
    defaults = FinetuneConfig(task=cfg.task, mode=cfg.mode, model=cfg.model, data=cfg.data, precision=cfg.precision)
    for name in ("batch_size", "max_epochs", "patience", "layer", "max_per_split", "mask_time_prob", "layerdrop",
                 "probe", "standardize", "seeds", "n_boot"):
        value = getattr(cfg, name)
        if value != getattr(defaults, name):
            flag = f"--{name.replace('_', '-')}"
            args += [flag] if isinstance(value, bool) else [flag, str(value)]
    return shlex.join(args)


class Classifier(nn.Module):
    """wav2vec 2.0 backbone -> time-mean of the last block -> Linear: audio (batch, samples) -> (batch, classes)."""

    def __init__(self, backbone: nn.Module, normalize: bool, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.normalize = normalize
        self.head = nn.Linear(backbone.config.hidden_size, num_classes)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = normalize(audio) if self.normalize else audio
        return self.head(self.backbone(x).last_hidden_state.mean(dim=1))

    def set_mode(self, mode: str, mask_time_prob: float = 0.0, layerdrop: float = 0.0) -> None:
        """Choose what trains: "ft1" everything, "ft2" all but the CNN feature encoder, "fe" the head only."""
        for p in self.backbone.parameters():
            p.requires_grad_(mode in ("ft1", "ft2"))
        if mode == "ft2":
            for p in self.backbone.feature_extractor.parameters():
                p.requires_grad_(False)
        self.backbone.config.mask_time_prob = mask_time_prob
        self.backbone.config.mask_feature_prob = 0.0
        self.backbone.config.layerdrop = layerdrop
        if mask_time_prob > 0 and getattr(self.backbone, "masked_spec_embed", None) is None:
            raise ValueError("this backbone has no mask embedding (masked_spec_embed); use --mask-time-prob 0")

    def optimizer(self, lr_backbone: float = FT_LR_BACKBONE, lr_head: float = FT_LR_HEAD) -> torch.optim.Adam:
        """Adam with two groups: trainable backbone weights at `lr_backbone`, the head at `lr_head`."""
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        groups = [{"params": list(self.head.parameters()), "lr": lr_head}]
        if backbone:
            groups.insert(0, {"params": backbone, "lr": lr_backbone})
        return torch.optim.Adam(groups)


def audio_batches(notes: list[nsynth.Note], y: np.ndarray, batch_size: int, seed: int | None = None):
    """Batches of (audio float32 (batch, 64000), labels int64 (batch,)), read from disk; seeded shuffle."""
    order = np.arange(len(notes)) if seed is None else np.random.default_rng(seed).permutation(len(notes))
    for start in range(0, len(notes), batch_size):
        idx = order[start:start + batch_size]
        audio = nsynth.load_audio_batch([notes[i] for i in idx])
        yield torch.from_numpy(audio), torch.from_numpy(y[idx])


@dataclass
class RunData:
    """The three splits of a run as loaded, the rows its task keeps, and their labels.

    `splits` hold every loaded note (embeddings are extracted and cached per split, whatever the task);
    `keep[split]` (int64 (k,)) indexes the notes the task uses (pitch88 drops notes outside MIDI 21..108)
    and `labels[split]` (int64 (k,)) are their class indices.
    """

    splits: dict[str, nsynth.NSynthSplit]
    keep: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def notes(self, split: str) -> list[nsynth.Note]:
        """The notes of `split` the task uses, in order."""
        return [self.splits[split].notes[i] for i in self.keep[split]]

    @property
    def dropped(self) -> int:
        """Loaded notes the task does not use, over all splits."""
        return sum(len(s.notes) - len(self.keep[name]) for name, s in self.splits.items())


def load_run_data(cfg: FinetuneConfig) -> RunData:
    """Load train/valid/test (a seeded subset with max_per_split), the notes the task keeps and their labels."""
    splits = nsynth.load_splits(cfg.data, cfg.max_per_split, cfg.seed)
    task = nsynth.get_task(cfg.task)
    data = RunData(splits, {name: task.kept(s.notes) for name, s in splits.items()})
    for name in splits:
        if not len(data.keep[name]):
            raise nsynth.NSynthError(f"{cfg.data}: no {name} note lies in the range of task {cfg.task}")
        data.labels[name] = check_labels(nsynth.labels(data.notes(name), task), task.num_classes,
                                         f"{cfg.task} labels of {name}")
    return data


def _prepare_out(cfg: FinetuneConfig, out: Path) -> dict | None:
    """Create RUN/, check a previous config matches, drop temporaries a killed run left; return a finished result."""
    out.mkdir(parents=True, exist_ok=True)
    stale = remove_temporaries(out)
    if stale:
        log.info("%s: removed %d temporary file(s) left by an interrupted run: %s", out, len(stale),
                 ", ".join(p.name for p in stale[:5]))
    cfg_path = out / "config.json"
    if cfg_path.is_file():
        # settings an older config.json lacks count as their defaults
        defaults = asdict(FinetuneConfig(task=cfg.task, mode=cfg.mode, model=cfg.model, data=cfg.data,
                                         precision=cfg.precision))
        previous = {**defaults, **json.loads(cfg_path.read_text())}
        if previous != asdict(cfg):
            changed = sorted(k for k in set(previous) | set(asdict(cfg)) if previous.get(k) != asdict(cfg).get(k))
            raise ValueError(f"{out} holds a run with other settings ({', '.join(changed)} differ): "
                             f"choose another --out or delete it")
    write_json_atomic(cfg_path, asdict(cfg))
    done = out / "result.json"
    finished = json.loads(done.read_text()) if done.is_file() else None
    if finished is not None and finished.get("stopped_by") == "time":
        log.info("%s: the last call stopped on its time budget after epoch %d; continuing from its checkpoint",
                 out, finished.get("epochs_run", 0) - 1)
        return None
    return finished if finished is not None and "predictions" in finished else None  # older results: re-run


def _probe_inputs(feats: np.ndarray, cols: list[int]) -> np.ndarray:
    """One layer's features (n, dim), or several layers (n, len(cols), dim) for the learned weighted sum."""
    return feats[:, cols[0]] if len(cols) == 1 else feats[:, cols]


def run_fe(cfg: FinetuneConfig, data: RunData, out: Path, featurizer: Featurizer, cache: EmbeddingCache,
           progress: bool) -> tuple[dict, list[dict]]:
    """FE on cached features, one probe per requested layer (or one on the weighted sum of all) and seed.

    Returns:
        (the row of the last requested layer's probe, all rows); a row holds "layer", the metrics over
        seeds (`compare.summarize`), best_epoch / epochs_run of the first seed, "pred" (one int64 (n_test,)
        array per seed) and, for `--layer weighted`, "layer_weights" (softmax weights, mean over seeds).
    """
    layers = resolve_layers(cfg.layer, featurizer.num_layers)
    device = cfg.resolved_device()
    feats = {name: cached_features(featurizer, s.notes, layers, cache, cfg.embed_batch_size, device, cfg.precision,
                                   progress, f"{featurizer.source} {name}")[data.keep[name]]
             for name, s in data.splits.items()}
    num_classes = nsynth.get_task(cfg.task).num_classes
    standardize = cfg.standardize or featurizer.standardize
    probes = [list(range(len(layers)))] if cfg.layer == WEIGHTED else [[j] for j in range(len(layers))]
    test_notes = data.notes("test")
    rows = []
    for cols in probes:
        name = WEIGHTED if len(cols) > 1 else f"layer{layers[cols[0]]}"
        preds, fits, weights = [], [], []
        for seed in cfg.probe_seeds:
            fit_cfg = FitConfig(cfg.max_epochs, cfg.patience, device, "fp32", progress, f"FE {cfg.task} {name}")
            state = out / (f"state-{name}.pt" if seed == cfg.seed else f"state-{name}-seed{seed}.pt")
            head, result = train_head(_probe_inputs(feats["train"], cols), data.labels["train"],
                                      _probe_inputs(feats["valid"], cols), data.labels["valid"], num_classes,
                                      fit_cfg, cfg.batch_size, seed, standardize=standardize, checkpoint=state,
                                      probe=cfg.probe)
            preds.append(head_predict(head, _probe_inputs(feats["test"], cols)))
            fits.append(result)
            if head.layer_weights() is not None:
                weights.append(head.layer_weights().detach().numpy())
        row = {"layer": WEIGHTED if len(cols) > 1 else layers[cols[0]],
               **summarize(cfg.task, data.labels["test"], preds, [n.instrument_str for n in test_notes],
                           cfg.n_boot),
               "best_epoch": fits[0].best_epoch, "epochs_run": fits[0].epochs_run, "pred": preds}
        if weights:
            row["layer_weights"] = [float(w) for w in np.mean(weights, axis=0)]
            row["layer_weights_per_seed"] = [[float(v) for v in w] for w in weights]
        rows.append(row)
    return rows[-1], rows


def time_budget_note(rec: dict) -> str:
    """", stopped on the time budget after N epochs" for a run `--max-minutes` cut short, else ""."""
    return f", stopped on the time budget after {rec['epochs_run']} epochs" if rec.get("stopped_by") == "time" else ""


def run_ft(cfg: FinetuneConfig, data: RunData, out: Path, encoder: Encoder, progress: bool,
           max_seconds: float | None = None) -> dict:
    """FT1/FT2: train backbone and head on audio; returns the best-validation model's test metrics.

    `max_seconds` ends training at an epoch boundary (the record says `stopped_by: "time"`, and calling
    again continues from RUN/state.pt); the test then uses the best epoch so far.
    """
    torch.manual_seed(cfg.seed)
    device = cfg.resolved_device()
    model = Classifier(encoder.backbone, encoder.normalize, nsynth.get_task(cfg.task).num_classes)
    model.set_mode(cfg.mode, cfg.mask_time_prob, cfg.layerdrop)
    model.to(device)
    notes = {name: data.notes(name) for name in data.splits}
    y = data.labels
    fit_cfg = FitConfig(cfg.max_epochs, cfg.patience, device, cfg.precision, progress, f"{cfg.mode} {cfg.task}",
                        max_seconds)
    result = fit(model, model.optimizer(),
                 lambda epoch: audio_batches(notes["train"], y["train"], cfg.batch_size, cfg.seed * 100003 + epoch),
                 lambda: audio_batches(notes["valid"], y["valid"], cfg.batch_size), fit_cfg,
                 EarlyStopping(cfg.patience), out / "state.pt")
    model.load_state_dict(result.best_state)
    logits, _, _ = predict(model, audio_batches(notes["test"], y["test"], cfg.batch_size), device, cfg.precision)
    preds = [logits.argmax(axis=1)]
    return {**summarize(cfg.task, y["test"], preds, [n.instrument_str for n in notes["test"]], cfg.n_boot),
            "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "stopped_by": result.stopped_by,
            "pred": preds}


def run_finetune(cfg: FinetuneConfig, out: Path | str, cache_dir: Path | str | None = None, progress: bool = True,
                 command: str | None = None, featurizer: Featurizer | None = None,
                 max_minutes: float | None = None) -> dict:
    """Run one (model, task, mode) experiment into RUN=`out`; resumes, and returns a finished run's record.

    Writes RUN/config.json, RUN/result.json (the record), RUN/confusion.png (first seed), for `--layer all`
    RUN/layers.csv and RUN/layers.png, for `--layer weighted` RUN/layer_weights.json and .png.
    `featurizer` reuses an already loaded model (FE only). `max_minutes` (FT only) bounds the training time
    of this call: the run is tested on its best epoch so far and marked `stopped_by: "time"`; calling again
    with the same settings continues it (the budget is not part of the run's identity).

    Returns:
        the record: model, task, mode, layer_choice (--layer), layer (the probed layer's index, or
        "weighted"), probe, standardize (of the probe inputs, as applied), accuracy, macro_f1 (+ chroma_accuracy
        for pitch tasks), each a mean over the probe seeds, ci_low / ci_high (95 % bootstrap interval of
        accuracy) and with several seeds accuracy_sd; seed, seeds, data, n_train/n_valid/n_test,
        n_dropped (notes outside the task's range), best_epoch, epochs_run, predictions (per test note:
        note_str, instrument_str, y_true, y_pred per seed), command, wall_s.
    """
    from eval_harness import figures
    from eval_harness.models import load_encoder, load_featurizer

    out = Path(out)
    if max_minutes is not None and cfg.mode == "fe":
        raise ValueError("--max-minutes bounds FT1/FT2 training; FE probes are not time-limited (use --max-epochs)")
    if max_minutes is not None and not max_minutes > 0:
        raise ValueError(f"--max-minutes must be positive, got {max_minutes}")
    finished = _prepare_out(cfg, out)
    if finished is not None:
        log.info("%s: run already finished, reusing its result", out)
        return finished
    start = time.perf_counter()
    data = load_run_data(cfg)
    layer_rows: list[dict] = []
    standardize = cfg.standardize
    if cfg.mode == "fe":
        featurizer = featurizer or load_featurizer(cfg.model)
        standardize = standardize or featurizer.standardize
        cache = EmbeddingCache(cache_dir)
        res, layer_rows = run_fe(cfg, data, out, featurizer, cache, progress)
        res["cache_hits"] = cache.hits
    else:
        res = run_ft(cfg, data, out, load_encoder(cfg.model), progress,
                     None if max_minutes is None else 60.0 * max_minutes)
    preds = res.pop("pred")
    task = nsynth.get_task(cfg.task)
    figures.confusion_png(confusion_matrix(data.labels["test"], preds[0], task.num_classes), task.label_names,
                         out / "confusion.png", f"{cfg.model} {cfg.mode.upper()} {cfg.task}")
    if len(layer_rows) > 1:
        rows = [{k: v for k, v in r.items() if k != "pred"} for r in layer_rows]
        figures.layer_curve(rows, out / "layers.csv", out / "layers.png", f"{cfg.model} FE {cfg.task}")
        res["per_layer"] = rows
    if "layer_weights" in res:
        write_json_atomic(out / "layer_weights.json", {"layers": list(range(len(res["layer_weights"]))),
                                                       "weights": res["layer_weights"],
                                                       "per_seed": res.pop("layer_weights_per_seed")})
        figures.curves_png({cfg.model: {"x": list(range(len(res["layer_weights"]))), "y": res["layer_weights"]}},
                           out / "layer_weights.png", f"{cfg.model} FE {cfg.task}: learned layer weights",
                           ylabel="softmax weight")
    record = {"model": cfg.model, "task": cfg.task, "mode": cfg.mode, "layer_choice": cfg.layer, "probe": cfg.probe,
              "standardize": standardize, **res, "seed": cfg.seed, "seeds": cfg.probe_seeds,
              "data": str(cfg.data), "n_train": len(data.keep["train"]), "n_valid": len(data.keep["valid"]),
              "n_test": len(data.keep["test"]), "n_dropped": data.dropped,
              "predictions": predictions_json(data.notes("test"), data.labels["test"], preds),
              "command": command or finetune_command(cfg, out), "wall_s": round(time.perf_counter() - start, 2)}
    write_json_atomic(out / "result.json", record)
    return record
