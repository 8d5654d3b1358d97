"""The HEAR module's commands: `embed` and `info` (over `hear_w2v_music` and `embed_files`) and
`export-hear-tasks` (over `tasks`: NSynth tasks in the HEAR layout, for heareval). Thin shells."""
from __future__ import annotations

import json

import click

_SOURCES = "SRC: '' or a bundled name (music-small, speech-small), an HF dir, a fairseq .pt, a pretrain run or .ckpt, random:SRC[@SEED]"


@click.command("embed")
@click.argument("audio", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "src", default="", show_default=True, help=_SOURCES)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--layer", default=None, help="0 = transformer input, k = block k, -1 = last (default), cnn.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="auto: bf16 where this CPU computes it natively (AVX512-BF16 or AMX), else fp32.")
@click.option("--skip-existing", is_flag=True, help="Keep outputs that already exist (resume).")
@click.option("--allow-pickle", is_flag=True, help="Allow full pickle loading (trusted old checkpoints only).")
def embed(audio: tuple[str, ...], src: str, out_dir: str, layer: str | None, precision: str,
          skip_existing: bool, allow_pickle: bool) -> None:
    """Write <stem>.embeddings.npy (T, D) and <stem>.timestamps.npy (T,, ms) for each AUDIO file.

    Any format soundfile reads, any sample rate (resampled to 16 kHz with soxr), mixed down to mono.
    """
    from hear_w2v_music import load_model

    from .embed_files import embed_files

    try:
        # --layer is checked by the HEAR module's one layer-spec parser (hear_w2v_music.layers.resolve_layer)
        model = load_model(src, layer=layer, precision=precision, allow_pickle=allow_pickle)
        click.echo(f"precision {model.precision} ({model.precision_reason})", err=True)
        embed_files(audio, model, out_dir, skip_existing=skip_existing,
                    progress=lambda p, shape: click.echo(f"{p}: {shape[0]} frames x {shape[1]}"))
    except (FileNotFoundError, ValueError, TypeError) as err:
        raise click.ClickException(str(err)) from err


@click.command("info")
@click.argument("src")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--allow-pickle", is_flag=True, help="Allow full pickle loading (trusted old checkpoints only).")
def info(src: str, as_json: bool, allow_pickle: bool) -> None:
    """Config, parameter count, heads present and provenance of a model SRC ('' = music-small)."""
    from hear_w2v_music.checkpoints import describe, load_checkpoint

    try:
        summary = describe(load_checkpoint(src, allow_pickle=allow_pickle))
    except (FileNotFoundError, ValueError, TypeError) as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    c, p = summary["config"], summary["parameters"]
    click.echo(f"source     {summary['source'] or '(default)'} [{summary['kind']}]")
    for key, value in summary["info"].items():
        if value is not None and key != "pretrain_config":
            click.echo(f"  {key + ':':<16} {value}")
    click.echo(f"params     {p['total']:,} total, {p['backbone']:,} in the backbone")
    click.echo(f"heads      {', '.join(summary['heads']) or 'none (backbone only)'}")
    click.echo(f"normalize  {summary['normalize']} (per-clip zero mean, unit variance)")
    click.echo(f"encoder    {c['num_hidden_layers']} layers x {c['hidden_size']}, {c['num_attention_heads']} heads, "
               f"FFN {c['intermediate_size']}, {'pre-LN' if c['do_stable_layer_norm'] else 'post-LN'}")
    click.echo(f"cnn        {len(c['conv_dim'])} convs, {c['conv_dim'][-1]} channels, {c['feat_extract_norm']} norm")
    click.echo(f"pos conv   kernel {c['num_conv_pos_embeddings']}")
    click.echo(f"codebooks  {c['num_codevector_groups']} x {c['num_codevectors_per_group']}")


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
    from .tasks import export_hear_tasks
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


COMMANDS = [embed, info, export_hear_tasks_cmd]
