"""Which quantizer code each frame of an NSynth note gets, and how codes co-occur with pitch and family.

The paper's Figs. 1-2: the pretrained model's discrete latents on the NSynth test split, without
finetuning. A frame's code in group g is the argmax over that group's ``weight_proj`` logits, as the
quantizer does at inference (no Gumbel noise); the quantizer reads the "cnn" stage of
``hear_w2v_music.layers`` (the CNN output after the feature layer norm, HF ``extract_features``), as in training. Every frame of a note carries the note's labels.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
import torch

from eval_harness.analysis import AnalysisError, cooccurrence
from eval_harness.analysis.layers import backbone_of
from hear_w2v_music import frames
from hear_w2v_music.layers import CNN, LayerExtractor

if TYPE_CHECKING:
    from hear_w2v_music.checkpoints import Checkpoint

LABELS = ("instrument", "pitch")  # label kinds, in the paper's figure order (Fig. 1, Fig. 2)
HOP = frames.HOP  # samples between frames at 16 kHz (20 ms)
FIELD = frames.RECEPTIVE_FIELD  # samples in one frame's receptive field (25 ms)


@dataclass(frozen=True)
class NoteCodes:
    """Codes of the frames of a set of notes.

    Attributes:
        codes: (N, G) int64 code index per frame and group, in [0, V).
        note_index: (N,) int64 index of the note each frame belongs to.
        num_codes: V, entries per codebook group.
    """

    codes: np.ndarray
    note_index: np.ndarray
    num_codes: int

    @property
    def groups(self) -> int:
        return int(self.codes.shape[1])


def require_quantizer(checkpoint: Checkpoint) -> None:
    """Raise AnalysisError unless the checkpoint really loaded quantizer weights (`"quantizer" in heads`)."""
    if "quantizer" not in checkpoint.heads:
        raise AnalysisError(
            f"model {checkpoint.source or 'music-small'!r} ({checkpoint.kind}) has no trained quantizer (loaded heads: "
            f"{sorted(checkpoint.heads) or 'none'}); the codebook analysis needs a pretraining checkpoint "
            "(a pretrain run, an HF Wav2Vec2ForPreTraining dir, or a fairseq pretraining .pt)")


@torch.no_grad()
def quantizer_codes(model: torch.nn.Module, audio: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Inference-time quantizer codes of a batch of clips.

    Args:
        model: HF `Wav2Vec2ForPreTraining` (eval mode) with a `quantizer`.
        audio: (B, n) float32 waveform at 16 kHz.
        normalize: apply per-clip zero-mean unit-variance normalisation first.

    Returns:
        (B, T, G) int64 codes, T = (n - 400) // 320 + 1 frames, G codebook groups.
    """
    quantizer = getattr(model, "quantizer", None)
    if quantizer is None:
        raise AnalysisError(f"{type(model).__name__} has no quantizer")
    feats = LayerExtractor(backbone_of(model), normalize).frames(audio, [CNN])[0]  # (B, T, conv_dim)
    logits = quantizer.weight_proj(feats)  # (B, T, G * V)
    b, t, _ = logits.shape
    return logits.view(b, t, quantizer.num_groups, quantizer.num_vars).argmax(dim=-1)


def frame_levels_db(audio: np.ndarray, frames: int) -> np.ndarray:
    """RMS level of each frame's 400-sample receptive field. audio: (B, n) -> (B, frames) in dBFS."""
    starts = np.arange(frames) * HOP
    idx = starts[:, None] + np.arange(FIELD)[None, :]  # (frames, 400)
    rms = np.sqrt(np.mean(np.square(audio[:, idx], dtype=np.float64), axis=-1))
    return 20.0 * np.log10(np.maximum(rms, 1e-10))


def extract_codes(checkpoint: Checkpoint, audio_batches: Iterable[np.ndarray], min_db: float | None = None
                  ) -> NoteCodes:
    """Codes of every frame of every note.

    Args:
        checkpoint: a `hear_w2v_music.checkpoints.Checkpoint` with a quantizer.
        audio_batches: iterable of (B, n) float32 arrays at 16 kHz, the notes in order.
        min_db: drop frames whose receptive field is quieter than this RMS level in dBFS
            (None keeps every frame, as the paper).

    Returns:
        `NoteCodes` over the kept frames.
    """
    require_quantizer(checkpoint)
    quantizer = checkpoint.model.quantizer
    codes, owners, offset = [], [], 0
    for batch in audio_batches:
        batch = np.asarray(batch, dtype=np.float32)
        c = quantizer_codes(checkpoint.model, torch.from_numpy(batch), checkpoint.normalize).numpy()  # (B, T, G)
        keep = np.ones(c.shape[:2], dtype=bool) if min_db is None else frame_levels_db(batch, c.shape[1]) >= min_db
        owner = np.broadcast_to(np.arange(offset, offset + c.shape[0])[:, None], c.shape[:2])
        codes.append(c[keep])
        owners.append(owner[keep])
        offset += c.shape[0]
    if offset == 0:
        raise AnalysisError("no notes to analyse")
    all_codes = np.concatenate(codes).astype(np.int64)
    if all_codes.shape[0] == 0:
        raise AnalysisError(f"every frame is quieter than {min_db} dBFS: lower --min-db")
    return NoteCodes(all_codes, np.concatenate(owners).astype(np.int64), int(quantizer.num_vars))


def cooccurrences(note_codes: NoteCodes, note_labels: np.ndarray, label_names: tuple[str, ...]
                  ) -> dict[str, cooccurrence.Cooccurrence]:
    """Co-occurrence of codes with one kind of label, per group ("group0", ...) and for the code tuple ("joint").

    Args:
        note_codes: the frames' codes.
        note_labels: (num_notes,) int label index of each note, into `label_names`.
        label_names: names of the labels.
    """
    frame_labels = np.asarray(note_labels, dtype=np.int64)[note_codes.note_index]
    out = {}
    v = note_codes.num_codes
    for g in range(note_codes.groups):
        counts = cooccurrence.count(note_codes.codes[:, g], frame_labels, v, len(label_names))
        out[f"group{g}"] = cooccurrence.Cooccurrence(counts, tuple(str(i) for i in range(v)), label_names)
    if note_codes.groups > 1:
        index, names = cooccurrence.joint_codes(note_codes.codes)
        counts = cooccurrence.count(index, frame_labels, len(names), len(label_names))
        out["joint"] = cooccurrence.Cooccurrence(counts, names, label_names)
    return out


def nsynth_labels(notes: list, kind: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Label index per note and label names: "instrument" = NSynth family, "pitch" = MIDI 9..120."""
    from eval_harness import nsynth

    if kind == "instrument":
        return nsynth.labels(notes, "instrument"), nsynth.FAMILIES
    if kind == "pitch":
        return nsynth.labels(notes, "pitch"), nsynth.TASKS["pitch"].label_names
    raise AnalysisError(f"unknown label kind {kind!r}: expected one of {', '.join(LABELS)}")


def analyze_codebooks(model_src: str, nsynth_dir: str | Path, out_dir: str | Path, split: str = "test",
                      max_notes: int | None = None, min_db: float | None = None, batch_size: int = 16,
                      max_plot_codes: int = 200, seed: int = 0, plot_groups: tuple[str, ...] | None = None
                      ) -> dict:
    """The codebook analysis end to end: codes, co-occurrences, numbers, CSVs and heatmaps under out_dir.

    Next to each NMI and purity, ``nmi_chance`` / ``purity_chance`` are the same numbers with the
    notes' labels shuffled (seeded): what the code counts alone give, with no code-label association.

    Writes (each file atomically): ``codebooks.json`` (all numbers), ``codebooks.csv`` (one row per
    label kind x group), ``cooccurrence_<label>_<group>.csv`` and ``codebook_<label>_<group>.png``.

    Args:
        model_src: any model source `load_checkpoint` accepts; it must carry a quantizer.
        nsynth_dir: NSynth root holding nsynth-<split>/.
        out_dir: output folder (created).
        split: NSynth split ("test" as in the paper).
        max_notes: a seeded subset of at most this many notes (None: all).
        min_db: frame level floor in dBFS (None: all frames).
        batch_size: notes per forward pass.
        max_plot_codes: the joint heatmap shows at most this many most frequent code pairs.
        plot_groups: draw heatmaps only for these of "group0", ..., "joint" (None: all); for a
            one-group quantizer "joint" means "group0".
        seed: subset seed.

    Returns:
        {"model", "split", "notes", "min_db", "results": {label: {group: summary dict}}, "figures": [paths]}
    """
    from eval_harness import nsynth
    from eval_harness.analysis import plots
    from pretrain.fileio import write_json_atomic, write_text_atomic
    from hear_w2v_music.checkpoints import load_checkpoint

    checkpoint = load_checkpoint(model_src)
    require_quantizer(checkpoint)
    notes = nsynth.load_split(nsynth_dir, split, max_examples=max_notes, seed=seed).notes
    batches = (nsynth.load_audio_batch(notes[i:i + batch_size]) for i in range(0, len(notes), batch_size))
    note_codes = extract_codes(checkpoint, batches, min_db)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = None if plot_groups is None else set(plot_groups)
    if wanted is not None and note_codes.groups == 1 and "joint" in wanted:
        wanted.add("group0")
    results: dict[str, dict[str, dict]] = {}
    figures: list[str] = []
    for kind in LABELS:
        labels, names = nsynth_labels(notes, kind)
        results[kind] = {}
        chance = cooccurrences(note_codes, np.random.default_rng(seed).permutation(labels), names)
        for group, co in cooccurrences(note_codes, labels, names).items():
            results[kind][group] = {**cooccurrence.summary(co), "nmi_chance": cooccurrence.nmi(chance[group].counts),
                                    "purity_chance": cooccurrence.purity(chance[group].counts)}
            write_text_atomic(out_dir / f"cooccurrence_{kind}_{group}.csv", cooccurrence.to_csv(co))
            if wanted is not None and group not in wanted:
                continue
            png = out_dir / f"codebook_{kind}_{group}.png"
            title = f"{kind} vs {'code pairs' if group == 'joint' else 'codes of ' + group} ({co.frames} frames)"
            plots.cooccurrence_heatmap(co, png, title, max_codes=max_plot_codes if group == "joint" else None)
            figures.append(str(png))
    summary = {"model": model_src, "kind": checkpoint.kind, "split": split, "notes": len(notes),
               "frames": int(note_codes.codes.shape[0]), "groups": note_codes.groups,
               "codes_per_group": note_codes.num_codes, "min_db": min_db, "results": results, "figures": figures}
    rows = [{"label": kind, "codes": group, **numbers}
            for kind, per in results.items() for group, numbers in per.items()]
    write_text_atomic(out_dir / "codebooks.csv", cooccurrence.csv_text(rows))
    write_json_atomic(out_dir / "codebooks.json", summary)
    return summary
