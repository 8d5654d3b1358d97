"""`w2v-music embed` and `w2v-music info`: thin shells over eval_harness.embed_files and hear_w2v_music."""
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


COMMANDS = [embed, info]
