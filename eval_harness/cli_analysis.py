"""The `analyze` command group: `codebooks` (paper Figs. 1-2) and `pwcca` (Fig. 3).

Thin shells over `eval_harness.analysis.codebooks.analyze_codebooks` and
`eval_harness.analysis.similarity.analyze_pwcca`; see docs/analysis.md.
"""
from __future__ import annotations

import click


@click.group("analyze")
def analyze() -> None:
    """Representation analyses: quantizer codes vs NSynth labels, layer-wise PWCCA."""


@analyze.command("codebooks")
@click.option("--model", "model_src", default="", show_default=True,
              help="Model source with a quantizer (pretrain run, HF pretraining dir, fairseq .pt) "
                   "[default: music-small].")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="NSynth root holding nsynth-<split>/.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "valid", "test"]))
@click.option("--max-notes", type=int, default=None, help="Use a seeded subset of at most N notes [default: all].")
@click.option("--min-db", type=float, default=None,
              help="Drop frames quieter than this RMS level in dBFS [default: keep all, as the paper].")
@click.option("--batch-size", type=int, default=16, show_default=True, help="Notes per forward pass.")
@click.option("--joint-only", is_flag=True, help="Draw only the heatmaps of the code pairs (CSVs for every group).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
def codebooks(model_src: str, data_dir: str, split: str, max_notes: int | None, min_db: float | None,
              batch_size: int, joint_only: bool, out_dir: str) -> None:
    """Co-occurrence of the quantizer's codes with NSynth pitch and instrument family.

    Writes codebooks.json / codebooks.csv (NMI, purity, codes used, code perplexity per label and
    codebook group), cooccurrence_<label>_<group>.csv and heatmaps codebook_<label>_<group>.png.
    """
    from eval_harness.analysis.codebooks import analyze_codebooks

    try:
        summary = analyze_codebooks(model_src, data_dir, out_dir, split=split, max_notes=max_notes, min_db=min_db,
                                    batch_size=batch_size, plot_groups=("joint",) if joint_only else None)
    except (ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{summary['notes']} notes, {summary['frames']} frames, {summary['groups']} groups x "
               f"{summary['codes_per_group']} codes")
    for label, per_group in summary["results"].items():
        for group, n in per_group.items():
            click.echo(f"{label:10s} {group:7s} NMI {n['nmi']:.3f} (chance {n['nmi_chance']:.3f})  "
                       f"purity {n['purity']:.3f} (chance {n['purity_chance']:.3f})  "
                       f"used {n['codes_used']}/{n['codes_total']}  perplexity {n['perplexity']:.1f}")
    click.echo(f"wrote {out_dir}")


@analyze.command("pwcca")
@click.option("--models", "models", required=True, multiple=True,
              help="Model source, or a `finetune` FT1/FT2 run directory; repeat for several models.")
@click.option("--audio", "audio_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of audio, or a MusicNet root (its test_data/ is used).")
@click.option("--seconds", type=float, default=4.0, show_default=True,
              help="Seconds taken from the middle of each file.")
@click.option("--max-files", type=int, default=None, help="At most N files, evenly spaced [default: all].")
@click.option("--min-frames-per-dim", type=float, default=10.0, show_default=True,
              help="Frames per CCA dimension below which dimensions are reduced by SVD.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
def pwcca(models: tuple[str, ...], audio_dir: str, seconds: float, max_files: int | None,
          min_frames_per_dim: float, out_dir: str) -> None:
    """PWCCA between every transformer layer and the CNN feature encoder output, per model.

    Writes pwcca.csv (model, layer, pwcca, mean_cca, frames, dims), pwcca.json and the plot pwcca.png.
    """
    from eval_harness.analysis.similarity import analyze_pwcca

    try:
        summary = analyze_pwcca(list(models), audio_dir, out_dir, seconds=seconds, max_files=max_files,
                                min_frames_per_dim=min_frames_per_dim)
    except (ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{summary['files']} clips, {summary['frames']} frames")
    for name, info in summary["models"].items():
        click.echo(f"{name}: " + " ".join(f"{v:.3f}" for v in info["pwcca"]))
    click.echo(f"wrote {out_dir}")


COMMANDS: list[click.Command] = [analyze]
