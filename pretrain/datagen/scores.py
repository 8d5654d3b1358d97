"""music21 scores -> performed notes: what `make-corpus` plays, with which instruments, when.

The scores come from music21's bundled corpus (no network). A piece becomes a list of
`PlayedNote`s: score position and duration in quarter notes, MIDI pitch, the part's GM program,
a velocity, and onset/offset in seconds after a (seeded) tempo and articulation are applied.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Composers of the classical (art music) part of music21's corpus; folk-tune collections are left out.
COMPOSERS = (
    "bach", "beethoven", "chopin", "ciconia", "corelli", "cpebach", "handel", "haydn", "josquin",
    "luca", "lusitano", "monteverdi", "mozart", "palestrina", "schubert", "schumann_clara",
    "schumann_robert", "trecento", "verdi", "weber", "beach", "schoenberg", "webern",
)
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".mid", ".midi")

# GM programs (0-based, as sent to the synthesizer) by register: soprano, alto, tenor, bass.
ENSEMBLES: dict[str, dict[str, tuple[int, ...]]] = {
    "choir": {"S": (52, 53), "A": (52, 53), "T": (52, 53), "B": (52,)},
    "organ": {"S": (19, 20), "A": (19, 20), "T": (19, 20), "B": (19, 20)},
    "strings": {"S": (40,), "A": (40, 41), "T": (41, 42), "B": (42, 43)},
    "winds": {"S": (73, 68, 71), "A": (68, 71, 69), "T": (71, 60, 70), "B": (70,)},
    "brass": {"S": (56,), "A": (56, 60), "T": (60, 57), "B": (57, 58)},
    "piano": {"S": (0,), "A": (0,), "T": (0,), "B": (0,)},
    "harpsichord": {"S": (6,), "A": (6,), "T": (6,), "B": (6,)},
    "mixed": {"S": (40, 73, 68), "A": (40, 41, 71), "T": (41, 42, 60, 71), "B": (42, 70, 43)},
}
# One instrument for every part (a single keyboard or organ plays all voices).
UNIFORM_ENSEMBLES = ("organ", "piano", "harpsichord")
ENSEMBLE_WEIGHTS_VOCAL = {"choir": 0.35, "organ": 0.15, "strings": 0.15, "brass": 0.1,
                          "winds": 0.1, "mixed": 0.1, "piano": 0.03, "harpsichord": 0.02}
ENSEMBLE_WEIGHTS_OTHER = {"strings": 0.3, "piano": 0.2, "mixed": 0.15, "winds": 0.1,
                          "organ": 0.1, "harpsichord": 0.05, "brass": 0.05, "choir": 0.05}
# Part-name keywords -> GM program (0-based): instrumental parts keep their instrument.
NAMED_PROGRAMS = (("violoncello", 42), ("cello", 42), ("contrabass", 43), ("viola", 41),
                  ("violin", 40), ("piano", 0), ("flute", 73), ("oboe", 68), ("clarinet", 71),
                  ("bassoon", 70), ("horn", 60), ("trumpet", 56), ("organ", 19),
                  ("harpsichord", 6), ("cembalo", 6))
NOTE_TYPES = {"breve": "Breve", "whole": "Whole", "half": "Half", "quarter": "Quarter",
              "eighth": "Eighth", "16th": "Sixteenth", "32nd": "Thirty Second",
              "64th": "Sixty Fourth", "longa": "Longa"}


@dataclass(frozen=True)
class ScoreRef:
    """A score file of music21's corpus: a stable numeric id, its path and composer folder."""

    id: int
    path: str
    composer: str


@dataclass(frozen=True)
class PlayedNote:
    """One performed note: score times in quarter notes, performed times in seconds."""

    part: int
    program: int  # GM program, 0-based
    pitch: int  # MIDI note number
    velocity: int  # 1..127
    start_beat: float  # onset, quarter notes from the start of the piece
    beats: float  # written duration, quarter notes
    note_value: str  # MusicNet-style name, e.g. "Dotted Quarter"
    onset_s: float
    offset_s: float


@dataclass(frozen=True)
class Performance:
    """A piece as played: its notes (sorted by onset) and the choices behind them."""

    notes: list[PlayedNote]
    ensemble: str
    quarter_bpm: float
    expanded_repeats: bool


def list_scores() -> list[ScoreRef]:
    """The classical scores of music21's bundled corpus, sorted by path; ids start at 10000."""
    from music21 import corpus

    refs: list[ScoreRef] = []
    paths = sorted(str(p) for p in corpus.getCorePaths())
    for path in paths:
        parts = Path(path).parts
        composer = parts[parts.index("corpus") + 1] if "corpus" in parts else "unknown"
        if composer in COMPOSERS and Path(path).suffix.lower() in SCORE_SUFFIXES:
            refs.append(ScoreRef(id=10000 + len(refs), path=path, composer=composer))
    return refs


def playing_order(refs: list[ScoreRef], seed: int) -> list[ScoreRef]:
    """A seeded order interleaving composers, each at a rate proportional to sqrt(#scores).

    Palestrina alone has over a thousand movements; this keeps any prefix of the order (what an
    hour budget takes) varied across composers.
    """
    rng = np.random.default_rng(seed)
    by_composer: dict[str, list[ScoreRef]] = {}
    for ref in refs:
        by_composer.setdefault(ref.composer, []).append(ref)
    keyed: list[tuple[float, int, ScoreRef]] = []
    for composer in sorted(by_composer):
        group = by_composer[composer]
        rate = np.sqrt(len(group))
        for rank, index in enumerate(rng.permutation(len(group))):
            keyed.append(((rank + rng.random()) / rate, group[index].id, group[index]))
    return [ref for _, _, ref in sorted(keyed, key=lambda k: (k[0], k[1]))]


def note_value_name(duration: "object") -> str:
    """A music21 Duration -> MusicNet's note_value text ("Quarter", "Dotted Eighth", "Triplet Half")."""
    base = NOTE_TYPES.get(getattr(duration, "type", ""), "Other")
    dots = int(getattr(duration, "dots", 0))
    prefix = {0: "", 1: "Dotted ", 2: "Double Dotted "}.get(dots, "Triple Dotted ")
    tuplets = getattr(duration, "tuplets", ())
    if tuplets and tuplets[0].numberNotesActual == 3:
        prefix = "Triplet " + prefix
    return prefix + base


def _register(median_pitch: float) -> str:
    """Voice register of a part from its median MIDI pitch."""
    return "S" if median_pitch >= 67 else "A" if median_pitch >= 60 else "T" if median_pitch >= 50 else "B"


def _named_program(name: str) -> int | None:
    low = name.lower()
    for keyword, program in NAMED_PROGRAMS:
        if keyword in low:
            return program
    return None


def choose_programs(part_names: list[str], medians: list[float],
                    rng: np.random.Generator) -> tuple[str, list[int]]:
    """Pick an ensemble and one GM program per part (0-based) from names and registers.

    Instrumental scores (every part name names an instrument) keep their instruments with
    probability 0.6; otherwise an ensemble is drawn (vocal-looking scores favour choir and organ)
    and each part gets an instrument of that ensemble for its register.
    """
    named = [_named_program(n) for n in part_names]
    if named and all(p is not None for p in named) and rng.random() < 0.6:
        return "original", [int(p) for p in named]  # type: ignore[arg-type]
    weights = ENSEMBLE_WEIGHTS_OTHER if any(p is not None for p in named) else ENSEMBLE_WEIGHTS_VOCAL
    names = sorted(weights)
    probs = np.array([weights[n] for n in names])
    ensemble = names[int(rng.choice(len(names), p=probs / probs.sum()))]
    table = ENSEMBLES[ensemble]
    if ensemble in UNIFORM_ENSEMBLES:
        program = int(rng.choice(table["S"]))
        return ensemble, [program] * len(medians)
    return ensemble, [int(rng.choice(table[_register(m)])) for m in medians]


def load_score(path: str) -> tuple["object", bool]:
    """Parse a corpus file (an Opus gives its first score) and expand repeats where well formed.

    Returns (score, expanded); badly formed repeats leave the score unexpanded.
    """
    from music21 import converter, stream

    parsed = converter.parse(path)
    if isinstance(parsed, stream.Opus):
        if not parsed.scores:
            raise ValueError(f"{path}: an opus without scores")
        parsed = parsed.scores[0]
    try:
        expanded = parsed.expandRepeats()
        if expanded.highestTime >= parsed.highestTime > 0:
            return expanded, True
    except Exception:  # music21 raises several types for malformed repeats
        pass
    return parsed, False


def _tempo_map(score: "object", factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints (quarter notes, seconds) of the performed tempo, shapes (K,) and (K,)."""
    bounds = []
    for start, end, mark in score.metronomeMarkBoundaries():
        bpm = mark.getQuarterBPM() or 90.0
        bounds.append((float(start), float(end), float(np.clip(bpm * factor, 40.0, 200.0))))
    if not bounds:
        bounds = [(0.0, float(score.highestTime) or 1.0, 90.0 * factor)]
    ql, sec = [bounds[0][0]], [0.0]
    for start, end, bpm in bounds:
        if end <= ql[-1]:
            continue
        sec.append(sec[-1] + (end - max(start, ql[-1])) * 60.0 / bpm)
        ql.append(end)
    # Extend linearly past the last mark with its tempo.
    last_bpm = bounds[-1][2]
    ql.append(ql[-1] + 1e6)
    sec.append(sec[-1] + 1e6 * 60.0 / last_bpm)
    return np.asarray(ql), np.asarray(sec)


def perform(score: "object", expanded: bool, rng: np.random.Generator) -> Performance:
    """Turn a parsed score into performed notes with seeded instrumentation, tempo and dynamics."""
    raw: list[tuple[int, float, float, int, str, float | None]] = []
    names: list[str] = []
    for index, part in enumerate(score.parts):
        names.append(str(part.partName or ""))
        flat = part.stripTies().flatten()
        dynamics = sorted((float(d.offset), float(d.volumeScalar or 0.5))
                          for d in flat.getElementsByClass("Dynamic"))
        for element in flat.notes:
            beats = float(element.quarterLength)
            if beats <= 0 or element.duration.isGrace:
                continue
            start = float(element.offset)
            level = next((v for o, v in reversed(dynamics) if o <= start), None)
            value = note_value_name(element.duration)
            for pitch in element.pitches:
                raw.append((index, start, beats, int(round(pitch.ps)), value, level))
    if not raw:
        raise ValueError("score has no pitched notes")
    medians = [float(np.median([r[3] for r in raw if r[0] == i] or [60])) for i in range(len(names))]
    ensemble, programs = choose_programs(names, medians, rng)
    factor = float(rng.uniform(0.8, 1.2))
    bp_ql, bp_s = _tempo_map(score, factor)
    base_velocity = rng.uniform(55, 100)
    part_offset = rng.uniform(-10, 10, size=len(names))
    legato = rng.uniform(0.93, 1.0) if ensemble in ("choir", "organ") else rng.uniform(0.8, 0.98)
    swell_period = rng.uniform(8, 24)  # quarter notes per phrase-level swell
    notes = []
    for part, start, beats, pitch, value, level in raw:
        if not 0 <= pitch <= 127:
            continue
        onset, end = np.interp([start, start + beats], bp_ql, bp_s)
        velocity = (30 + 90 * level) if level is not None else base_velocity
        velocity += part_offset[part] + 8 * np.sin(2 * np.pi * start / swell_period) + rng.normal(0, 4)
        notes.append(PlayedNote(
            part=part, program=programs[part], pitch=pitch, velocity=int(np.clip(velocity, 20, 127)),
            start_beat=start, beats=beats, note_value=value, onset_s=float(onset),
            offset_s=float(onset + max(end - onset, 0.05) * legato)))
    notes.sort(key=lambda n: (n.onset_s, n.part, n.pitch))
    first_bpm = 60.0 * (bp_ql[1] - bp_ql[0]) / (bp_s[1] - bp_s[0])
    return Performance(notes=notes, ensemble=ensemble, quarter_bpm=float(first_bpm), expanded_repeats=expanded)
