"""Commands `make-nsynth` and `export-hear-tasks`: thin shells over eval_harness.synth and eval_harness.hear_tasks."""
from __future__ import annotations

import click


@click.command("make-nsynth")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--soundfont", "soundfonts", type=click.Path(exists=True, dir_okay=False), multiple=True,
              help="A .sf2/.sf3 soundfont; repeat to combine several, each split into train/valid/test "
                   "(default: TimGM6mb.sf2 shipped inside pretty_midi).")
@click.option("--size", type=click.Choice(["mini", "small", "full"]), default="mini", show_default=True,
              help="mini ~2k notes (seconds), small ~15k, full ~190k (NSynth has 306k).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Rendering processes.")
@click.option("--seed", type=int, default=0, show_default=True, help="Fixes splits, pitches and velocities.")
@click.option("--max-notes", type=click.IntRange(min=1), default=None, help="Render at most this many notes.")
@click.option("--oversample", type=click.IntRange(min=1, max=4), default=1, show_default=True,
              help="Render at 16 kHz x N and resample with soxr (less aliasing, slower).")
@click.option("--overwrite", is_flag=True, help="Replace OUT (only once the new render is complete).")
def make_nsynth(out: str, soundfonts: tuple[str, ...], size: str, workers: int, seed: int, max_notes: int | None,
                oversample: int, overwrite: bool) -> None:
    """Render NSynth-format notes (4 s, 16 kHz; nsynth-{train,valid,test}/) from GM soundfonts into OUT."""
    from eval_harness.synth import render_nsynth

    try:
        summary = render_nsynth(out, list(soundfonts), size, workers, seed, max_notes, overwrite, True, oversample)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    total = sum(summary.notes.values())
    click.echo(f"{out}: {total} notes ({', '.join(f'{s} {n}' for s, n in summary.notes.items())}) in "
               f"{summary.seconds:.1f} s, {summary.notes_per_second:.0f} notes/s with {workers} workers; "
               f"{summary.skipped_silent} silent notes skipped, {summary.limited} loud notes scaled down")
    click.echo(instruments_table(summary.instruments))


def instruments_table(instruments: dict[str, dict[str, int]]) -> str:
    """Instruments per family (rows) and split (columns) as aligned text, with a total row."""
    splits = list(instruments)
    families = list(next(iter(instruments.values())))
    lines = ["  instruments  " + "".join(f"{s:>7s}" for s in splits)]
    for family in families:
        lines.append(f"  {family:11s}  " + "".join(f"{instruments[s][family]:7d}" for s in splits))
    lines.append(f"  {'total':11s}  " + "".join(f"{sum(instruments[s].values()):7d}" for s in splits))
    return "\n".join(lines)


@click.command("export-hear-tasks")
@click.argument("nsynth_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--task", "tasks", type=click.Choice(["pitch", "instrument"]), multiple=True,
              help="Tasks to export (repeatable; default both).")
@click.option("--max-examples", type=click.IntRange(min=1), default=None, help="At most this many clips per split.")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=None,
              help="A HEAR-like budget: 1000 clips per hour, split 80/10/10 (5 -> 4000/500/500).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the subset.")
@click.option("--skip-bad", is_flag=True, help="Skip notes with bad entries or audio (counted) instead of failing.")
@click.option("--overwrite", is_flag=True, help="Replace existing task folders.")
def export_hear_tasks_cmd(nsynth_dir: str, out: str, tasks: tuple[str, ...], max_examples: int | None,
                          hours: float | None, seed: int, skip_bad: bool, overwrite: bool) -> None:
    """Write NSynth pitch and instrument tasks in the HEAR layout (for heareval) under OUT."""
    from eval_harness.hear_tasks import export_hear_tasks
    from eval_harness.nsynth import NSynthError

    try:
        result = export_hear_tasks(nsynth_dir, out, tasks or ("pitch", "instrument"), max_examples, hours, seed,
                                   skip_bad, overwrite)
    except (NSynthError, FileExistsError) as err:
        raise click.ClickException(str(err)) from err
    counts = ", ".join(f"{s} {n}" for s, n in result.counts.items())
    for task, folder in result.tasks.items():
        click.echo(f"{task}: {folder} ({counts})")
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} bad notes; first: {result.skipped[0][1]}", err=True)


COMMANDS: list[click.Command] = [make_nsynth, export_hear_tasks_cmd]
