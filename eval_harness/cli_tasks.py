"""Command `export-hear-tasks`: a thin shell over eval_harness.hear_tasks (NSynth tasks in the HEAR layout)."""
from __future__ import annotations

import click


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


COMMANDS: list[click.Command] = [export_hear_tasks_cmd]
