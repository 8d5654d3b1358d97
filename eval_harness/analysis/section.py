"""Both analyses for one model as a section of the benchmark's report: `run_analyses`, for `benchmark --with-analysis`.

(The results report itself, tables and comparisons, is `eval_harness.report`.)
"""
from __future__ import annotations

import os
from pathlib import Path

from eval_harness.analysis import AnalysisError

PWCCA_MAX_FILES = 200  # clips for the benchmark's PWCCA (evenly spaced over the folder), bounding its cost


def _link(path: str | Path, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def codebook_markdown(summary: dict, base: Path) -> list[str]:
    """Markdown lines for a codebook summary (see `analyze_codebooks`): a table and the joint heatmaps."""
    lines = [f"### Quantizer codes vs NSynth labels ({summary['split']} split, {summary['notes']} notes, "
             f"{summary['frames']} frames)", "",
             "| label | codes | NMI (shuffled labels) | purity (shuffled labels) | codes used | code perplexity |",
             "|---|---|---|---|---|---|"]
    for label, per_group in summary["results"].items():
        for group, n in per_group.items():
            lines.append(f"| {label} | {group} | {n['nmi']:.3f} ({n['nmi_chance']:.3f}) | {n['purity']:.3f} "
                         f"({n['purity_chance']:.3f}) | {n['codes_used']}/"
                         f"{n['codes_total']} | {n['perplexity']:.1f} |")
    lines.append("")
    preferred = "joint" if summary["groups"] > 1 else "group0"
    for fig in summary["figures"]:
        if Path(fig).stem.endswith(preferred):
            lines += [f"![{Path(fig).stem}]({_link(fig, base)})", ""]
    return lines


def pwcca_markdown(summary: dict, base: Path) -> list[str]:
    """Markdown lines for a PWCCA summary (see `analyze_pwcca`): per-layer table and the plot."""
    first = next(iter(summary["models"].values()))
    layers = len(first["pwcca"])
    header = ["model"] + ["in"] + [str(k) for k in range(1, layers)]
    lines = [f"### Layer-wise PWCCA with the CNN output ({summary['files']} clips of {summary['seconds']:g} s, "
             f"{summary['frames']} frames)", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for name, info in summary["models"].items():
        note = " (dims reduced)" if info["reduced"] else ""
        lines.append(f"| {name}{note} | " + " | ".join(f"{v:.3f}" for v in info["pwcca"]) + " |")
    lines += ["", f"![pwcca]({_link(summary['figure'], base)})", ""]
    return lines


def run_analyses(model_src: str, nsynth_dir: Path, out_dir: Path, audio_dir: Path | None = None,
                 extra_models: tuple[str, ...] = (), max_notes: int | None = None,
                 pwcca_max_files: int | None = PWCCA_MAX_FILES, link_base: Path | None = None) -> dict:
    """Codebook co-occurrence (NSynth test split) and layer-wise PWCCA for a model, as a report section.

    A model without a trained quantizer skips the codebook part (the markdown says why).

    Args:
        model_src: the model source.
        nsynth_dir: NSynth root; its test split feeds the codebook analysis, and its test audio the
            PWCCA when `audio_dir` is None.
        out_dir: output folder; codebooks/ and pwcca/ are written under it.
        audio_dir: audio for PWCCA (a folder, or a MusicNet root: its test_data/).
        extra_models: further sources (e.g. finetune run directories) drawn on the PWCCA plot.
        max_notes: codebook analysis on a seeded subset of at most this many test notes.
        pwcca_max_files: at most this many PWCCA clips (None: all).
        link_base: markdown links are relative to this folder (default: out_dir).

    Returns:
        {"markdown": str, "figures": [paths], "numbers": {"codebooks": summary or {"skipped": reason},
        "pwcca": summary}}.
    """
    from eval_harness.analysis.codebooks import analyze_codebooks
    from eval_harness.analysis.similarity import analyze_pwcca

    out_dir = Path(out_dir)
    base = Path(link_base) if link_base is not None else out_dir
    lines = [f"## Representation analysis of `{model_src or 'music-small'}`", ""]
    figures: list[str] = []
    numbers: dict = {}
    try:
        cb = analyze_codebooks(model_src, nsynth_dir, out_dir / "codebooks", split="test", max_notes=max_notes,
                               plot_groups=("joint",))
    except AnalysisError as err:
        numbers["codebooks"] = {"skipped": str(err)}
        lines += ["### Quantizer codes vs NSynth labels", "", f"Skipped: {err}", ""]
    else:
        numbers["codebooks"] = cb
        figures += cb["figures"]
        lines += codebook_markdown(cb, base)
    audio = Path(audio_dir) if audio_dir is not None else Path(nsynth_dir) / "nsynth-test" / "audio"
    pw = analyze_pwcca([model_src, *extra_models], audio, out_dir / "pwcca", max_files=pwcca_max_files)
    numbers["pwcca"] = pw
    figures.append(pw["figure"])
    lines += pwcca_markdown(pw, base)
    return {"markdown": "\n".join(lines), "figures": figures, "numbers": numbers}
