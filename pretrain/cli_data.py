"""Commands `make-corpus` and `make-speech`: thin shells over pretrain.corpus and pretrain.speech."""
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
    from pretrain.corpus import render_corpus

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
    from pretrain.speech import render_speech

    try:
        summary = render_speech(out, hours=hours, workers=workers, seed=seed)
    except (ValueError, FileExistsError) as error:
        raise click.UsageError(str(error)) from error
    _report(summary)


COMMANDS: list[click.Command] = [make_corpus, make_speech]
