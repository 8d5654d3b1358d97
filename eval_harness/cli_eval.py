"""`w2v-music finetune` and `w2v-music benchmark`: thin shells over eval_harness.finetune / .benchmark."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click


def _command_line() -> str:
    """The command as typed (program name shortened to w2v-music)."""
    return shlex.join(["w2v-music", *sys.argv[1:]])


def _setup_logging() -> None:
    import logging
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("matplotlib", "PIL", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


TASKS = ("pitch", "pitch88", "instrument")  # eval_harness.nsynth.TASKS, named here to keep --help import-free


def probe_options(command):
    """The FE probe options shared by `finetune` and `benchmark`: --probe, --layer, --standardize, --seeds, --n-boot."""
    options = [
        click.option("--probe", type=click.Choice(["linear", "mlp"]), default="linear", show_default=True,
                     help="FE only: linear (the paper's single layer) or mlp (MARBLE's: 512 hidden, ReLU, "
                          "dropout 0.2); Adam 1e-3, early stop 10."),
        click.option("--layer", default="last", show_default=True,
                     help="FE only: the layer to probe (0 = transformer input .. L = last block), 'all' for a "
                          "per-layer accuracy curve, or 'weighted' for a learned softmax-weighted sum of all layers."),
        click.option("--standardize", is_flag=True,
                     help="FE only: standardise probe inputs with the training split's mean and std "
                          "(the log-mel reference always is)."),
        click.option("--seeds", default=1, show_default=True, type=click.IntRange(1),
                     help="FE only: repeat the probe with seeds SEED..SEED+N-1; report mean ± sd."),
        click.option("--n-boot", default=1000, show_default=True, type=click.IntRange(1),
                     help="Bootstrap replicates of the 95 % intervals and paired differences."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("finetune")
@click.option("--task", type=click.Choice(TASKS), required=True,
              help="NSynth task: pitch (MIDI 9-120, 112 classes, the paper's), pitch88 (MIDI 21-108, 88 classes, "
                   "HEAR's; other notes dropped) or instrument (family).")
@click.option("--mode", type=click.Choice(["fe", "ft1", "ft2"]), required=True,
              help="fe: frozen backbone, linear head; ft1: whole network; ft2: all but the CNN feature encoder.")
@click.option("--model", "model", default="", show_default=True,
              help="Model source: music-small, speech-small, an HF dir, a fairseq .pt, a pretrain run, random:SRC, "
                   "or logmel (FE only). Empty: the bundled music-small.")
@click.option("--data", type=click.Path(path_type=Path), required=True, help="NSynth-format folder.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Run directory (re-running the same command resumes or reuses it).")
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1))
@click.option("--max-epochs", default=100, show_default=True, type=click.IntRange(1))
@click.option("--patience", default=10, show_default=True, type=click.IntRange(1),
              help="Early stopping: epochs without a lower validation loss.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, help="auto (cuda when present), cpu, cuda, cuda:1 ...")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="auto: bf16 on CUDA and on CPUs with native bf16 (AVX512-BF16 or AMX), else fp32.")
@probe_options
@click.option("--max-per-split", default=None, metavar="N|TRAIN,VALID,TEST",
              help="Use a seeded subset of each split (0 = all).")
@click.option("--mask-time-prob", default=0.0, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="FT only: SpecAugment-style time masking (off by default, see docs/evaluation.md).")
@click.option("--layerdrop", default=0.0, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="FT only: transformer layerdrop (off by default).")
@click.option("--max-minutes", default=None, type=click.FloatRange(0, min_open=True),
              help="FT only: stop training at the first epoch end after this many minutes, test the best epoch "
                   "so far (result.json: stopped_by time); the same command again continues the run.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="FE embedding cache folder (default $W2V_MUSIC_CACHE/embeddings or ~/.cache/w2v-music/embeddings).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def finetune_cmd(task: str, mode: str, model: str, data: Path, out: Path, batch_size: int, max_epochs: int,
                 patience: int, seed: int, device: str, precision: str, probe: str, layer: str, standardize: bool,
                 seeds: int, n_boot: int, max_per_split: int | None, mask_time_prob: float, layerdrop: float,
                 max_minutes: float | None, cache_dir: Path | None, no_progress: bool) -> None:
    """Train and test one classifier on NSynth with the paper's protocol (section 2.2)."""
    _setup_logging()
    from eval_harness.finetune import FinetuneConfig, run_finetune, time_budget_note

    try:
        cfg = FinetuneConfig(task=task, mode=mode, model=model, data=str(data), batch_size=batch_size,
                             max_epochs=max_epochs, patience=patience, seed=seed, device=device, precision=precision,
                             layer=layer, max_per_split=max_per_split, mask_time_prob=mask_time_prob,
                             layerdrop=layerdrop, probe=probe, standardize=standardize, seeds=seeds, n_boot=n_boot)
        rec = run_finetune(cfg, out, cache_dir, not no_progress, _command_line(), max_minutes=max_minutes)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    line = (f"{task} {mode}: accuracy {100 * rec['accuracy']:.2f} % (95 % CI {100 * rec['ci_low']:.2f} to "
            f"{100 * rec['ci_high']:.2f})")
    if "accuracy_sd" in rec:
        line += f", sd {100 * rec['accuracy_sd']:.2f} over {len(rec['seeds'])} seeds"
    line += f", macro-F1 {100 * rec['macro_f1']:.2f} %"
    if "chroma_accuracy" in rec:
        line += f", chroma accuracy {100 * rec['chroma_accuracy']:.2f} %"
    click.echo(f"{line} (best epoch {rec['best_epoch']}{time_budget_note(rec)}, {rec['n_test']} test notes) "
               f"-> {out}/result.json")


@click.command("benchmark")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="NSynth-format folder (default: data/nsynth-small, rendered when absent).")
@click.option("--models", default=None,
              help="Comma-separated model sources (default: music-small,speech-small,random:music-small,logmel,crepe-tiny).")
@click.option("--modes", default="fe", show_default=True, help="Comma-separated subset of fe,ft1,ft2.")
@click.option("--tasks", default="pitch,instrument", show_default=True,
              help=f"Comma-separated subset of {','.join(TASKS)}.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("results/benchmark"), show_default=True)
@click.option("--max-per-split", default=None, metavar="N|TRAIN,VALID,TEST",
              help="A seeded subset of each split (0: all notes). [default: 2000,500,1000]")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--max-epochs", default=100, show_default=True, type=click.IntRange(1))
@click.option("--max-minutes", default=None, type=click.FloatRange(0, min_open=True),
              help="FT1/FT2: training-time budget per run (as finetune --max-minutes; rerunning continues).")
@click.option("--device", default="auto", show_default=True)
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="auto: bf16 on CUDA and on CPUs with native bf16 (AVX512-BF16 or AMX), else fp32.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None)
@probe_options
@click.option("--with-analysis", is_flag=True, help="Append the codebook and PWCCA analyses to results.md.")
@click.option("--no-progress", is_flag=True)
def benchmark_cmd(data: Path | None, models: str | None, modes: str, tasks: str, out: Path, max_per_split: str,
                  seed: int, max_epochs: int, max_minutes: float | None, device: str, precision: str,
                  cache_dir: Path | None, probe: str, layer: str, standardize: bool, seeds: int, n_boot: int,
                  with_analysis: bool, no_progress: bool) -> None:
    """The main job: FE (and optionally FT1/FT2) for the music, speech and random models; a Table-1 report."""
    _setup_logging()
    from eval_harness.models import DEFAULT_MODELS
    from eval_harness.benchmark import BenchmarkConfig, run_benchmark

    split = lambda text: [s.strip() for s in text.split(",") if s.strip()]  # noqa: E731
    try:
        cfg = BenchmarkConfig(data=data, models=split(models) if models else DEFAULT_MODELS, modes=split(modes),
                              tasks=split(tasks), out=out, seed=seed,
                              **({} if max_per_split is None else {"max_per_split": max_per_split}),
                              max_epochs=max_epochs, max_minutes=max_minutes, device=device, precision=precision,
                              cache_dir=cache_dir, with_analysis=with_analysis, progress=not no_progress,
                              probe=probe, layer=layer, standardize=standardize, seeds=seeds, n_boot=n_boot)
        result = run_benchmark(cfg, _command_line())
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(result.markdown)
    click.echo(f"wrote {result.paths[0]} and {result.paths[1]} in {result.wall_s:.0f} s")


COMMANDS: list = [finetune_cmd, benchmark_cmd]
