"""Commands `pretrain`, `export` and `plot-training` (thin shells over pretrain.train/export/plot)."""
from __future__ import annotations

import logging
from pathlib import Path

import click


def _devices(ctx, param, value: str) -> int | str:
    """``--devices``: 'auto' or a positive integer (-1: every GPU, as Lightning)."""
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1 and number != -1:
        raise click.BadParameter(f"expected a positive integer (devices per node), -1 or 'auto', got {value!r}")
    return number


@click.command("pretrain")
@click.option("--config", "config_name", default=None,
              help="Preset (base, small, tiny) or YAML file. Default: RUN/config.yaml with --resume, else small.")
@click.option("--data", "data_dirs", multiple=True, required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of audio or MusicNet root (repeatable).")
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key (repeatable), e.g. --set max_steps=2000 --set model.layerdrop=0.")
@click.option("--resume", is_flag=True, help="Continue from RUN/checkpoints/last.ckpt.")
@click.option("--devices", default="1", show_default=True, callback=_devices,
              help="Devices per node (an int, or 'auto').")
@click.option("--num-nodes", default=1, show_default=True, type=int, help="Nodes (DDP; torchrun or SLURM).")
@click.option("--accelerator", default="auto", show_default=True, help="auto, cpu or gpu.")
@click.option("--no-progress", is_flag=True, help="Disable the progress bar (for log files).")
def pretrain_command(config_name, data_dirs, run_dir, overrides, resume, devices, num_nodes, accelerator,
                     no_progress) -> None:
    """Pretrain wav2vec 2.0 (fairseq BASE recipe) on the audio of --data into --out."""
    from pretrain import config as config_lib
    from pretrain.train import run_pretraining

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    saved = Path(run_dir) / "config.yaml"
    if config_name is None:
        config_name = str(saved) if resume and saved.is_file() else "small"
    try:
        config = config_lib.resolve(config_name, overrides)
    except (ValueError, FileNotFoundError) as err:
        raise click.BadParameter(str(err), param_hint="--config/--set") from err
    try:
        last = run_pretraining(config, list(data_dirs), run_dir, resume=resume, devices=devices,
                               num_nodes=num_nodes, accelerator=accelerator, progress_bar=not no_progress)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"checkpoint: {last}")


@click.command("export")
@click.argument("src", type=click.Path(exists=True))
@click.argument("out", type=click.Path())
@click.option("--dtype", default="float32", show_default=True, help="float32, float16 or bfloat16 weights.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def export_command(src, out, dtype, overwrite) -> None:
    """Export a pretrain run (RUN or a .ckpt) SRC to an HF model directory OUT."""
    from pretrain.export import export

    try:
        path = export(src, out, dtype=dtype, overwrite=overwrite)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"exported: {path}")


@click.command("plot-training")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="PNG path (default RUN/training.png).")
def plot_command(run_dir, out) -> None:
    """Plot the curves of RUN/metrics.csv to a PNG."""
    from pretrain.plot import plot_training

    try:
        path = plot_training(run_dir, out)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"plot: {path}")


COMMANDS = [pretrain_command, export_command, plot_command]
