"""`make-corpus`: a MusicNet-format classical corpus rendered offline from music21's scores.

Layout written (MusicNet's)::

    OUT/train_data/<id>.wav     44.1 kHz mono 16-bit
    OUT/train_labels/<id>.csv   start_time,end_time,instrument,note,start_beat,end_beat,note_value
    OUT/test_data/, OUT/test_labels/   every 33rd piece of the playing order (the first included)
    OUT/musicnet_metadata.csv   id,composer,composition,ensemble,seconds,expanded_repeats,source

Label times are in samples at 44.1 kHz; `instrument` is the 1-based GM program (MusicNet's
convention: 1 piano, 41 violin, 43 cello, 72 clarinet); `note` the MIDI pitch; `start_beat` the
onset in quarter notes from the start of the piece and `end_beat` the written duration in quarter
notes (as in MusicNet's files); `note_value` a name such as "Dotted Quarter".

Each piece: music21 score -> performed notes (`scores.perform`: instrumentation, tempo, dynamics,
seeded per piece) -> MIDI note events played through tinysoundfont with a GM soundfont (TimGM6mb.sf2
from pretty_midi by default) -> mono mix, a synthetic room reverb, peak normalisation.
"""
from __future__ import annotations

import csv
import io
import json
from contextlib import closing
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from pretrain import fileio
from pretrain.datagen import common, scores
from pretrain.datagen.common import check_soundfont

MUSICNET_RATE = 44100  # Hz, MusicNet's sample rate, at which the corpus is rendered
LABEL_COLUMNS = ("start_time", "end_time", "instrument", "note", "start_beat", "end_beat", "note_value")
TAIL_S = 1.5  # s of release and reverb kept after the last note-off
TEST_EVERY = 33  # every 33rd piece of the playing order goes to the test split (MusicNet: 10 of 330)
SCORE_TIME_LIMIT_S = 90.0  # s to parse, expand and perform one score before it is skipped
MAX_PIECE_S = 1200.0  # s; longer performances are skipped (one movement rarely lasts this long)


@dataclass(frozen=True)
class PieceResult:
    """What rendering one score gave: its split, duration in s, or the reason it was skipped."""

    ref: scores.ScoreRef
    split: str
    seconds: float = 0.0
    skipped: str = ""
    meta: dict | None = None


def synthesize(notes: list[scores.PlayedNote], soundfont: Path, sample_rate: int = MUSICNET_RATE,
               tail_s: float = TAIL_S) -> np.ndarray:
    """Play notes through tinysoundfont; returns mono float32 audio, shape (samples,), not normalised.

    Each part gets its own MIDI channel (drums channel 9 skipped); note-offs at a time are sent
    before note-ons so repeated notes re-attack.
    """
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sample_rate, gain=-6.0)
    sfid = synth.sfload(str(soundfont))
    channels: dict[int, int] = {}
    for note in notes:
        if note.part not in channels:
            channel = len(channels) % 15
            channels[note.part] = channel if channel < 9 else channel + 1
            synth.program_select(channels[note.part], sfid, 0, note.program)
    events = [(round(n.onset_s * sample_rate), 1, channels[n.part], n.pitch, n.velocity) for n in notes]
    events += [(round(n.offset_s * sample_rate), 0, channels[n.part], n.pitch, 0) for n in notes]
    events.sort()
    total = events[-1][0] + int(tail_s * sample_rate)
    out = np.zeros((total, 2), dtype=np.float32)
    position = 0
    for when, kind, channel, pitch, velocity in events:
        if when > position:
            out[position:when] = np.frombuffer(synth.generate(when - position), dtype=np.float32).reshape(-1, 2)
            position = when
        if kind:
            synth.noteon(channel, pitch, velocity)
        else:
            synth.noteoff(channel, pitch)
    if total > position:
        out[position:] = np.frombuffer(synth.generate(total - position), dtype=np.float32).reshape(-1, 2)
    return out.mean(axis=1)


def add_reverb(audio: np.ndarray, rng: np.random.Generator, sample_rate: int = MUSICNET_RATE,
               rt60_s: tuple[float, float] = (0.4, 2.2), wet: tuple[float, float] = (0.08, 0.3)) -> np.ndarray:
    """A room: convolve with exponentially decaying noise (seeded RT60 and wet mix); same shape."""
    from scipy.signal import oaconvolve

    rt60 = rng.uniform(*rt60_s)
    n = int(rt60 * sample_rate)
    decay = np.exp(-6.9 * np.arange(n) / n)  # -60 dB at rt60
    impulse = (rng.standard_normal(n) * decay).astype(np.float32)
    impulse /= np.sqrt(np.sum(impulse ** 2))
    mix = rng.uniform(*wet)
    return ((1 - mix) * audio + mix * oaconvolve(audio, impulse)[: len(audio)]).astype(np.float32)


def label_rows(notes: list[scores.PlayedNote], sample_rate: int = MUSICNET_RATE) -> list[tuple]:
    """MusicNet label rows (LABEL_COLUMNS) for the notes, sorted by start time."""
    rows = [(round(n.onset_s * sample_rate), round(n.offset_s * sample_rate), n.program + 1, n.pitch,
             round(n.start_beat, 6), round(n.beats, 6), n.note_value) for n in notes]
    return sorted(rows)


def _csv_text(header: tuple[str, ...], rows: list[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def render_piece(job: tuple[scores.ScoreRef, str], work: Path, soundfont: Path, seed: int,
                 time_limit_s: float = SCORE_TIME_LIMIT_S) -> PieceResult:
    """Render one score into `work` (wav, labels, metadata sidecar); resumed pieces are not redone."""
    ref, split = job
    wav = work / f"{split}_data" / f"{ref.id}.wav"
    sidecar = work / ".meta" / f"{ref.id}.json"
    if wav.is_file() and sidecar.is_file():
        meta = json.loads(sidecar.read_text())
        return PieceResult(ref, split, seconds=float(meta["seconds"]), meta=meta)
    rng = np.random.default_rng([seed, ref.id])
    try:
        with common.time_limit(time_limit_s):
            score, expanded = scores.load_score(ref.path)
            performance = scores.perform(score, expanded, rng)
    except common.JobTimeout:
        return PieceResult(ref, split, skipped="time limit")
    except Exception as error:  # a corpus file music21 cannot read or play: counted, not fatal
        return PieceResult(ref, split, skipped=f"unreadable score ({type(error).__name__})")
    if performance.notes[-1].offset_s > MAX_PIECE_S:
        return PieceResult(ref, split, skipped="too long")
    audio = synthesize(performance.notes, soundfont)
    audio = common.normalize_peak(add_reverb(audio, rng), peak_db=float(rng.uniform(-6.0, -1.0)))
    if not np.isfinite(audio).all() or np.sqrt(np.mean(audio ** 2)) < 1e-4:
        return PieceResult(ref, split, skipped="silent or invalid audio")
    seconds = len(audio) / MUSICNET_RATE
    meta = {"id": ref.id, "composer": ref.composer, "composition": Path(ref.path).stem,
            "ensemble": performance.ensemble, "seconds": round(seconds, 3),
            "expanded_repeats": performance.expanded_repeats,
            "source": ref.path.split("/corpus/", 1)[-1],
            "programs": sorted({n.program + 1 for n in performance.notes}),
            "quarter_bpm": round(performance.quarter_bpm, 1), "notes": len(performance.notes)}
    fileio.write_text_atomic(work / f"{split}_labels" / f"{ref.id}.csv",
                  _csv_text(LABEL_COLUMNS, label_rows(performance.notes)))
    fileio.write_wav(wav, audio, MUSICNET_RATE)
    fileio.write_text_atomic(sidecar, json.dumps(meta))
    return PieceResult(ref, split, seconds=seconds, meta=meta)


def _write_metadata(work: Path, metas: list[dict]) -> None:
    columns = ("id", "composer", "composition", "ensemble", "seconds", "expanded_repeats", "source")
    rows = [tuple(m[c] for c in columns) for m in sorted(metas, key=lambda m: m["id"])]
    fileio.write_text_atomic(work / "musicnet_metadata.csv", _csv_text(columns, rows))


def render_corpus(out_dir: str | Path, hours: float, soundfont: str | Path | None = None,
                  workers: int = 2, seed: int = 0, score_refs: list[scores.ScoreRef] | None = None,
                  progress: bool = True) -> common.RenderSummary:
    """Render about `hours` of music into `out_dir` in MusicNet's layout; returns a summary.

    Pieces are taken in a seeded order interleaving composers until the budget is met (the last
    piece may overshoot it). `score_refs` replaces music21's corpus (tests use two short scores).
    Raises ValueError (hours <= 0, workers < 1), FileNotFoundError (soundfont) or FileExistsError
    (non-empty `out_dir`). Interrupted runs resume from `.<name>.partial` next to `out_dir`.
    """
    budget_s = common.check_hours(hours)
    workers = common.check_workers(workers)
    font = check_soundfont(soundfont)
    out_dir = Path(out_dir)
    start = common.wall_clock()
    with fileio.atomic_dir(out_dir, resume=True) as work:
        metas, done_s, skipped, splits = _render_pieces(work, out_dir.name, budget_s, font, workers, seed, score_refs,
                                                        progress)
    return common.RenderSummary(
        out_dir=out_dir, files=len(metas), audio_s=done_s, wall_s=common.wall_clock() - start,
        skipped=dict(skipped), details=corpus_stats(metas, splits))


def _render_pieces(work: Path, name: str, budget_s: float, font: Path, workers: int, seed: int,
                   score_refs: list[scores.ScoreRef] | None, progress: bool) -> tuple[list[dict], float, Counter, Counter]:
    """Fill the partial folder `work` up to `budget_s` seconds of music; returns (metas, seconds, skipped, splits)."""
    fileio.remove_temporaries(work, recursive=True)
    refs = scores.playing_order(score_refs if score_refs is not None else scores.list_scores(), seed)
    if not refs:
        raise ValueError("no scores to render")
    jobs = [(ref, "test" if i % TEST_EVERY == 0 else "train") for i, ref in enumerate(refs)]
    fn = partial(render_piece, work=work, soundfont=font, seed=seed)
    done_s, metas, skipped, splits = 0.0, [], Counter(), Counter()
    bar = common.progress(budget_s, f"make-corpus {name}") if progress else None
    with closing(common.run_in_order(fn, jobs, workers)) as results:
        for result in results:
            if result.skipped:
                skipped[result.skipped] += 1
                if bar is not None:
                    bar.set_postfix(skipped=sum(skipped.values()))
                continue
            done_s += result.seconds
            metas.append(result.meta)
            splits[result.split] += 1
            if bar is not None:
                bar.update(min(round(result.seconds), max(0, round(budget_s) - bar.n)))
            if done_s >= budget_s:
                break
    if bar is not None:
        bar.close()
    if not metas:
        raise RuntimeError(f"no score could be rendered (skipped: {dict(skipped)})")
    fileio.remove_temporaries(work, recursive=True)
    common.prune_unlisted(work, ("*_data/*.wav", "*_labels/*.csv", ".meta/*.json"), {str(m["id"]) for m in metas})
    _write_metadata(work, metas)
    return metas, done_s, skipped, splits


def corpus_stats(metas: list[dict], splits: Counter) -> dict:
    """Counts for reports: pieces per split, per composer, per ensemble, and GM programs used."""
    programs = Counter(p for m in metas for p in m["programs"])
    return {"splits": dict(splits), "composers": dict(Counter(m["composer"] for m in metas)),
            "ensembles": dict(Counter(m["ensemble"] for m in metas)),
            "programs": dict(sorted(programs.items())),
            "hours_by_composer": {c: round(sum(m["seconds"] for m in metas if m["composer"] == c) / 3600, 3)
                                  for c in sorted({m["composer"] for m in metas})}}
