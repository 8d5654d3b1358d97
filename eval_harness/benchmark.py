"""The main job: the paper's NSynth comparison in one call, with a Table-1-style report.

With no arguments: render `data/nsynth-small` if absent, then FE for music-small, speech-small, a
random init of music-small and the log-mel reference on both tasks. Each model is loaded once and
its embeddings extracted once (the FE cache) and reused by both tasks. Writes OUT/results.json (records
with 95 % bootstrap intervals and per-note predictions, and the paired differences of each pretrained
model to random init and to the speech model), OUT/results.md (the table, the differences and a
paragraph on their significance, the figures), OUT/*.png and one run directory per (model, task, mode)
under OUT/runs/.
"""
from __future__ import annotations

import logging
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from eval_harness import compare, figures, report
from eval_harness.models import DEFAULT_MODELS, SPEECH, ModelUnavailable, is_reference, load_featurizer
from eval_harness.finetune import MODES, FinetuneConfig, run_finetune, time_budget_note
from eval_harness.nsynth import get_task
from eval_harness.probe import PROBES
from eval_harness.stats import N_BOOT

log = logging.getLogger(__name__)

TASKS = ("pitch", "instrument")
DEFAULT_SIZE = "small"  # make-nsynth size of the default data: every audible pitch, 21 valid/test instruments
DEFAULT_SIZE_DIR = f"nsynth-{DEFAULT_SIZE}"
DEFAULT_MAX_PER_SPLIT = "2000,500,1000"  # train,valid,test notes: enough to tell models apart, < 10 min on 2 cores


def default_data_dir() -> Path:
    """$W2V_MUSIC_DATA/nsynth-small, else ./data/nsynth-small."""
    return Path(os.environ.get("W2V_MUSIC_DATA", "data")) / DEFAULT_SIZE_DIR


@dataclass
class BenchmarkConfig:
    """What to compare: models x tasks x modes on one NSynth-format folder."""

    data: Path | None = None  # None: default_data_dir(), rendered when absent
    models: Sequence[str] = DEFAULT_MODELS
    modes: Sequence[str] = ("fe",)
    tasks: Sequence[str] = TASKS
    out: Path = Path("results/benchmark")
    max_per_split: int | str | None = DEFAULT_MAX_PER_SPLIT  # N or "TRAIN,VALID,TEST" (nsynth.split_limits)
    seed: int = 0
    batch_size: int = 16
    max_epochs: int = 100
    patience: int = 10
    device: str = "auto"
    precision: str = "auto"  # resolved per device by FinetuneConfig (hear_w2v_music.precision)
    cache_dir: Path | None = None
    with_analysis: bool = False
    progress: bool = True
    probe: str = "linear"  # FE probe: "linear" (the paper's) or "mlp" (MARBLE's)
    layer: str = "last"  # FE layer: "last", "all" (a curve per model), "weighted" or an index
    standardize: bool = False  # FE: standardise probe inputs
    seeds: int = 1  # FE: probe repeats with seeds seed, seed+1, ... (mean ± sd)
    n_boot: int = N_BOOT  # bootstrap replicates of intervals and paired differences
    max_minutes: float | None = None  # FT1/FT2: training-time budget per run (finetune --max-minutes)

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise ValueError(f"unknown mode(s) {', '.join(bad)}: expected a subset of {', '.join(MODES)}")
        if not self.models:
            raise ValueError("no models to benchmark")
        for task in self.tasks:
            get_task(task)
        if self.probe not in PROBES:
            raise ValueError(f"unknown probe {self.probe!r}: expected one of {', '.join(PROBES)}")
        if self.seeds < 1 or self.n_boot < 1:
            raise ValueError("seeds and n_boot must be at least 1")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")

    def run_config(self, model: str, task: str, mode: str, data: Path) -> FinetuneConfig:
        """The `FinetuneConfig` of one (model, task, mode); the probe options apply to FE only."""
        fe = dict(probe=self.probe, layer=self.layer, standardize=self.standardize, seeds=self.seeds) \
            if mode == "fe" else {}
        return FinetuneConfig(task=task, mode=mode, model=model, data=str(data), batch_size=self.batch_size,
                              max_epochs=self.max_epochs, patience=self.patience, seed=self.seed, device=self.device,
                              precision=self.precision, max_per_split=self.max_per_split, n_boot=self.n_boot, **fe)


def run_name(cfg: FinetuneConfig) -> str:
    """The run folder of one (task, mode) under OUT/runs/MODEL: "pitch-fe", plus the non-default FE options."""
    parts = [cfg.task, cfg.mode]
    if cfg.probe != "linear":
        parts.append(cfg.probe)
    if cfg.layer != "last":
        parts.append(f"layer{cfg.layer}")
    if cfg.standardize:
        parts.append("std")
    if cfg.seeds != 1:
        parts.append(f"seeds{cfg.seeds}")
    return "-".join(parts)


@dataclass
class BenchmarkResult:
    """The records (one per model, task, mode), what was skipped and why, and the report paths."""

    records: list[dict]
    skipped: list[str] = field(default_factory=list)
    markdown: str = ""
    paths: tuple[Path, ...] = ()
    wall_s: float = 0.0


def _say(message: str) -> None:
    print(f"[benchmark] {message}", file=sys.stderr, flush=True)


def ensure_data(data: Path | None, progress: bool = True) -> Path:
    """The data folder to use; the default one is rendered (make-nsynth --size small) when absent."""
    if data is not None:
        return Path(data)  # a missing folder is reported by the NSynth reader, with the make-nsynth hint
    path = default_data_dir()
    if not (path / "nsynth-test" / "examples.json").is_file():
        from pretrain.datagen.nsynth_render import render_nsynth

        _say(f"{path} is absent: rendering it (w2v-music make-nsynth {path} --size {DEFAULT_SIZE})")
        render_nsynth(path, size=DEFAULT_SIZE, progress=progress)
    return path


def slug(src: str) -> str:
    """A folder-safe name for a model source."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", src.strip("/")).strip("_") or "default"


def _analysis_markdown(model: str, data: Path, out: Path) -> str:
    try:
        from eval_harness.analysis.section import run_analyses
    except ImportError as err:
        raise RuntimeError(f"--with-analysis needs eval_harness.analysis.section.run_analyses, which cannot be "
                           f"imported here ({err})") from err
    result = run_analyses(model_src=model, nsynth_dir=data, out_dir=out)
    return result["markdown"]


def run_benchmark(cfg: BenchmarkConfig, command: str | None = None) -> BenchmarkResult:
    """Run every (model, task, mode) of `cfg`, then write OUT/results.{json,md} and return them.

    A model that cannot be loaded here (e.g. a bundled checkpoint not built yet) is skipped with its
    reason in the report; the log-mel reference runs in FE only.
    """
    start = time.perf_counter()
    data = ensure_data(cfg.data, cfg.progress)
    stages = {"data": round(time.perf_counter() - start, 1)}  # s per stage, printed and kept in results.json
    out = Path(cfg.out)
    records, skipped = [], []
    jobs = [(m, mode) for m in cfg.models for mode in cfg.modes]
    for i, (model, mode) in enumerate(jobs, 1):
        if is_reference(model) and mode != "fe":
            skipped.append(f"{model} {mode}: a reference featurizer (FE only), no network to fine-tune in FT1/FT2")
            continue
        featurizer = None
        if mode == "fe":
            try:
                featurizer = load_featurizer(model)
            except ModelUnavailable as err:
                skipped.append(f"{model}: {err}")
                _say(f"skipping {model}: {err}")
                continue
        for task in cfg.tasks:
            _say(f"[{i}/{len(jobs)}] {model} {mode.upper()} {task} ({time.perf_counter() - start:.0f} s elapsed)")
            run_cfg = cfg.run_config(model, task, mode, data)
            tic = time.perf_counter()
            try:
                rec = run_finetune(run_cfg, out / "runs" / slug(model) / run_name(run_cfg), cfg.cache_dir,
                                   cfg.progress, featurizer=featurizer,
                                   max_minutes=None if mode == "fe" else cfg.max_minutes)
            except ModelUnavailable as err:
                skipped.append(f"{model} {mode}: {err}")
                _say(f"skipping {model} {mode}: {err}")
                break
            records.append(rec)
            stages[f"{model} {mode} {task}"] = round(time.perf_counter() - tic, 1)
            _say(f"    {stages[f'{model} {mode} {task}']:.0f} s (extraction, when not cached, and probe)")
            _say(f"    accuracy {report.accuracy_cell(rec)} %, macro-F1 {100 * rec['macro_f1']:.1f} %"
                 f"{time_budget_note(rec)}")
    notes = "".join(f"- skipped: {s}\n" for s in skipped)
    if records:
        rec = records[0]
        notes = (f"Data: `{data}` ({rec['n_train']} / {rec['n_valid']} / {rec['n_test']} train / valid / test "
                 f"notes{'' if cfg.max_per_split is None else f', at most {cfg.max_per_split} per split'}), "
                 f"seed {cfg.seed}{f', probe seeds {cfg.seed}..{cfg.seed + cfg.seeds - 1}' if cfg.seeds > 1 else ''}"
                 f".\n\n") + notes
    comparisons = compare.comparisons(records, SPEECH, cfg.n_boot)
    figs = figures.benchmark_figures(records, out)
    markdown = report.results_markdown(records, "NSynth benchmark (Table 1 style)", notes, comparisons, figs)
    if cfg.with_analysis:
        wav2vec = [m for m in cfg.models if not is_reference(m)]
        if not wav2vec:
            raise ValueError("--with-analysis needs a wav2vec 2.0 model among --models")
        markdown += "\n" + _analysis_markdown(wav2vec[0], data, out / "analysis")
    wall = time.perf_counter() - start
    stages["total"] = round(wall, 1)
    _say("time per stage (s): " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()))
    meta = {"command": command or benchmark_command(cfg), "data": str(data), "seed": cfg.seed,
            "max_per_split": cfg.max_per_split, "skipped": skipped, "wall_s": round(wall, 1), "stage_s": stages}
    paths = report.write_results(out, records, meta, markdown, comparisons)
    return BenchmarkResult(records, skipped, markdown, paths, wall)


def benchmark_command(cfg: BenchmarkConfig) -> str:
    """A `w2v-music benchmark` command line equivalent to `cfg`."""
    args = ["w2v-music", "benchmark", "--models", ",".join(cfg.models), "--modes", ",".join(cfg.modes),
            "--out", str(cfg.out), "--seed", str(cfg.seed)]
    if cfg.data is not None:
        args += ["--data", str(cfg.data)]
    if cfg.max_per_split != DEFAULT_MAX_PER_SPLIT:
        args += ["--max-per-split", str(cfg.max_per_split or 0)]  # 0 = all notes
    if list(cfg.tasks) != list(TASKS):
        args += ["--tasks", ",".join(cfg.tasks)]
    defaults = BenchmarkConfig()
    for name in ("probe", "layer", "seeds", "n_boot"):
        if getattr(cfg, name) != getattr(defaults, name):
            args += [f"--{name.replace('_', '-')}", str(getattr(cfg, name))]
    if cfg.standardize:
        args.append("--standardize")
    if cfg.with_analysis:
        args.append("--with-analysis")
    return shlex.join(args)
