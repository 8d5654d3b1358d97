"""The data commands `make-nsynth`, `make-corpus`, `make-speech`: thin shells over the renderers of pretrain.datagen."""
from __future__ import annotations

import click


def _report(summary: "object") -> None:
    """Print a one-screen summary of a render."""
    click.echo(f"wrote {summary.files} files, {summary.hours:.3f} h of audio to {summary.out_dir} "
               f"in {summary.wall_s:.0f} s")
    if summary.skipped:
        click.echo("skipped: " + ", ".join(f"{k}: {v}" for k, v in sorted(summary.skipped.items())))
    for key, value in summary.details.items():
        click.echo(f"{key}: {value}")


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
    from pretrain.datagen.nsynth_render import render_nsynth

    try:
        summary = render_nsynth(out, list(soundfonts), size, workers, seed, max_notes, overwrite, True, oversample)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    notes, record = summary.details["notes"], summary.details
    click.echo(f"{out}: {summary.files} notes ({', '.join(f'{s} {n}' for s, n in notes.items())}) in "
               f"{summary.wall_s:.1f} s, {record['notes_per_second']:.0f} notes/s with {workers} workers; "
               f"{record['skipped_silent']} silent notes skipped, {record['limited']} loud notes scaled down")
    click.echo(instruments_table(record["instruments"]))


def instruments_table(instruments: dict[str, dict[str, int]]) -> str:
    """Instruments per family (rows) and split (columns) as aligned text, with a total row."""
    splits = list(instruments)
    families = list(next(iter(instruments.values())))
    lines = ["  instruments  " + "".join(f"{s:>7s}" for s in splits)]
    for family in families:
        lines.append(f"  {family:11s}  " + "".join(f"{instruments[s][family]:7d}" for s in splits))
    lines.append(f"  {'total':11s}  " + "".join(f"{sum(instruments[s].values()):7d}" for s in splits))
    return "\n".join(lines)


@click.command("make-corpus")
@click.argument("out", type=click.Path(file_okay=False, path_type=str))
@click.option("--hours", type=float, default=2.5, show_default=True, help="Hours of music to render.")
@click.option("--soundfont", type=click.Path(dir_okay=False), default=None,
              help="A .sf2/.sf3 General MIDI soundfont [default: TimGM6mb.sf2 from pretty_midi].")
@click.option("--workers", type=int, default=2, show_default=True, help="Rendering processes.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of order and performance choices.")
def make_corpus(out: str, hours: float, soundfont: str | None, workers: int, seed: int) -> None:
    """Render a MusicNet-format classical corpus from music21's bundled scores into OUT.

    44.1 kHz mono wavs in train_data/ and test_data/, MusicNet label CSVs in train_labels/ and
    test_labels/. Rerunning an interrupted command resumes it.
    """
    from pretrain.datagen.corpus import render_corpus

    try:
        summary = render_corpus(out, hours=hours, soundfont=soundfont, workers=workers, seed=seed)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        raise click.UsageError(str(error)) from error
    _report(summary)


@click.command("make-speech")
@click.argument("out", type=click.Path(file_okay=False, path_type=str))
@click.option("--hours", type=float, default=2.5, show_default=True, help="Hours of speech to render.")
@click.option("--workers", type=int, default=2, show_default=True, help="Rendering processes.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of texts, voices, rates, pitches.")
def make_speech(out: str, hours: float, workers: int, seed: int) -> None:
    """Synthesize an English speech corpus (espeak-ng, many voices) into OUT as 16 kHz wavs.

    wavs/<speaker>/*.wav plus transcripts.tsv. Rerunning an interrupted command resumes it.
    """
    from pretrain.datagen.speech import render_speech

    try:
        summary = render_speech(out, hours=hours, workers=workers, seed=seed)
    except (ValueError, FileExistsError) as error:
        raise click.UsageError(str(error)) from error
    _report(summary)


COMMANDS: list[click.Command] = [make_nsynth, make_corpus, make_speech]
