"""NSynth reader and its two classification tasks (pitch, instrument family).

Reads the real NSynth layout (Engel et al. 2017), which `w2v-music make-nsynth` also writes::

    ROOT/nsynth-{train,valid,test}/examples.json   a dict keyed by note_str
    ROOT/nsynth-{train,valid,test}/audio/<note_str>.wav   16-bit mono, 16 kHz, 64000 samples (4 s)

Tasks: `pitch` (MIDI 9..120, 112 classes, class index = pitch - 9, the paper's), `pitch88` (MIDI
21..108, 88 classes, as HEAR's nsynth_pitch; notes outside are dropped) and `instrument` (the 11 NSynth
families in NSynth's order; synth_lead occurs in train only, as in NSynth).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pretrain.datagen.nsynth_layout import (  # noqa: F401  (the format's names are part of this module's API)
    CLIP_SECONDS, FAMILIES, NUM_SAMPLES, PITCH_MAX, PITCH_MIN, QUALITIES, SAMPLE_RATE, SOURCES, SPLITS, VELOCITIES,
)
from pretrain.fileio import AudioFileError, read_wav, wav_info

PIANO_MIN, PIANO_MAX = 21, 108  # MIDI note numbers of HEAR's nsynth_pitch range (the 88 piano keys)
# HEAR's nsynth_pitch 5h task: 4000 / 500 / 500 clips, i.e. 80 / 10 / 10 % of the budget.
HEAR_SPLIT_FRACTIONS: dict[str, float] = {"train": 0.8, "valid": 0.1, "test": 0.1}
HEAR_CLIPS_PER_HOUR = 1000  # HEAR's nominal clips per budget hour

_MAKE_HINT = "create NSynth-format data offline with `w2v-music make-nsynth OUT`"


class NSynthError(ValueError):
    """An NSynth folder that cannot be read: the message names the file and the problem."""


@dataclass(frozen=True)
class Note:
    """One NSynth note with NSynth's fields; `path` is its wav (16 kHz mono, 64000 samples)."""

    note: int
    note_str: str
    instrument: int
    instrument_str: str
    pitch: int  # MIDI note number, 9..120
    velocity: int  # MIDI velocity, one of 25/50/75/100/127 in NSynth
    sample_rate: int  # Hz
    qualities: tuple[int, ...]  # 10 bits in QUALITIES order
    qualities_str: tuple[str, ...]
    instrument_family: int  # index into FAMILIES
    instrument_family_str: str
    instrument_source: int  # index into SOURCES
    instrument_source_str: str
    path: Path = field(compare=False)

    def to_json(self) -> dict:
        """The note as an NSynth examples.json entry (lists for the tuples, no path)."""
        out = asdict(self)
        out.pop("path")
        out["qualities"] = list(self.qualities)
        out["qualities_str"] = list(self.qualities_str)
        return out


@dataclass
class NSynthSplit:
    """The notes of one split, sorted by note_str; `skipped` lists (note_str, reason) with skip_bad=True."""

    root: Path
    split: str
    notes: list[Note]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.notes)

    @property
    def hours(self) -> float:
        """Total audio duration in hours (4 s per note)."""
        return len(self.notes) * CLIP_SECONDS / 3600.0


@dataclass(frozen=True)
class Task:
    """A multiclass task over notes: `label(note)` is an index into `label_names`.

    `keep(note)` says whether the task uses a note at all (pitch88 drops notes outside MIDI 21..108);
    `pitch_offset` is the MIDI number of class 0 for pitch tasks (chroma accuracy), None otherwise;
    `resample` is what the bootstrap of its test accuracy draws: "notes", or "instruments" then their notes.
    """

    name: str
    label_names: tuple[str, ...]
    label: Callable[[Note], int]
    evaluation: tuple[str, ...]  # heareval score names
    keep: Callable[[Note], bool] = lambda note: True
    pitch_offset: int | None = None
    resample: str = "notes"

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def kept(self, notes: list[Note]) -> np.ndarray:
        """Indices (int64 (k,)) of the notes this task uses, in order."""
        return np.fromiter((i for i, n in enumerate(notes) if self.keep(n)), dtype=np.int64)


def _pitch_label(note: Note) -> int:
    if not PITCH_MIN <= note.pitch <= PITCH_MAX:
        raise NSynthError(f"{note.note_str}: pitch {note.pitch} outside {PITCH_MIN}..{PITCH_MAX}")
    return note.pitch - PITCH_MIN


def _in_piano_range(note: Note) -> bool:
    return PIANO_MIN <= note.pitch <= PIANO_MAX


def _pitch88_label(note: Note) -> int:
    if not _in_piano_range(note):
        raise NSynthError(f"{note.note_str}: pitch {note.pitch} outside {PIANO_MIN}..{PIANO_MAX} (pitch88 drops it)")
    return note.pitch - PIANO_MIN


def _family_label(note: Note) -> int:
    return note.instrument_family


TASKS: dict[str, Task] = {
    "pitch": Task("pitch", tuple(str(p) for p in range(PITCH_MIN, PITCH_MAX + 1)), _pitch_label,
                  ("pitch_acc", "chroma_acc"), pitch_offset=PITCH_MIN),
    "pitch88": Task("pitch88", tuple(str(p) for p in range(PIANO_MIN, PIANO_MAX + 1)), _pitch88_label,
                    ("pitch_acc", "chroma_acc"), keep=_in_piano_range, pitch_offset=PIANO_MIN),
    "instrument": Task("instrument", FAMILIES, _family_label, ("top1_acc",), resample="instruments"),
}


def split_dir(root: str | Path, split: str) -> Path:
    """The folder of one split: ROOT/nsynth-SPLIT."""
    if split not in SPLITS:
        raise NSynthError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    return Path(root) / f"nsynth-{split}"


def read_audio(path: str | Path) -> np.ndarray:
    """Read one NSynth note: float32 array of shape (64000,), 4 s at 16 kHz, values in [-1, 1].

    Raises:
        AudioFileError: a missing or corrupt file, or one with the wrong rate, length or channel count.
    """
    return read_wav(path, SAMPLE_RATE, NUM_SAMPLES, mono=True)


_INT_FIELDS = ("note", "instrument", "pitch", "velocity", "sample_rate", "instrument_family", "instrument_source")
_STR_FIELDS = ("instrument_str", "instrument_family_str", "instrument_source_str")


def note_from_json(key: str, entry: dict, audio_dir: Path, where: Path) -> Note:
    """Build a `Note` from one examples.json entry, checking its fields (the error names `where` and `key`)."""
    if not isinstance(entry, dict):
        raise NSynthError(f"{where}: entry {key!r} is not an object")
    missing = [f for f in _INT_FIELDS + _STR_FIELDS if f not in entry]
    if missing:
        raise NSynthError(f"{where}: entry {key!r} lacks field(s) {', '.join(missing)}")
    try:
        ints = {f: int(entry[f]) for f in _INT_FIELDS}
    except (TypeError, ValueError) as err:
        raise NSynthError(f"{where}: entry {key!r} has a non-integer field ({err})") from err
    note_str = str(entry.get("note_str", key))
    if note_str != key:
        raise NSynthError(f"{where}: entry {key!r} has note_str {note_str!r} (must equal its key)")
    if not PITCH_MIN <= ints["pitch"] <= PITCH_MAX:
        raise NSynthError(f"{where}: entry {key!r} has pitch {ints['pitch']}, expected {PITCH_MIN}..{PITCH_MAX}")
    if not 0 <= ints["instrument_family"] < len(FAMILIES):
        raise NSynthError(f"{where}: entry {key!r} has instrument_family {ints['instrument_family']}, "
                          f"expected 0..{len(FAMILIES) - 1}")
    if not 0 <= ints["instrument_source"] < len(SOURCES):
        raise NSynthError(f"{where}: entry {key!r} has instrument_source {ints['instrument_source']}, "
                          f"expected 0..{len(SOURCES) - 1}")
    qualities = tuple(int(q) for q in entry.get("qualities", [0] * len(QUALITIES)))
    return Note(
        note_str=note_str, qualities=qualities, qualities_str=tuple(entry.get("qualities_str", [])),
        path=audio_dir / f"{note_str}.wav",
        **ints, **{f: str(entry[f]) for f in _STR_FIELDS},
    )


def read_examples(root: str | Path, split: str) -> dict[str, dict]:
    """Parse ROOT/nsynth-SPLIT/examples.json into {note_str: entry}, with errors that say what is wrong."""
    folder = split_dir(root, split)
    if not Path(root).is_dir():
        raise NSynthError(f"{root}: NSynth folder does not exist ({_MAKE_HINT})")
    if not folder.is_dir():
        raise NSynthError(f"{folder}: split folder is missing; expected {folder.name}/examples.json and "
                          f"{folder.name}/audio/ ({_MAKE_HINT})")
    path = folder / "examples.json"
    if not path.is_file():
        raise NSynthError(f"{path}: examples.json is missing ({_MAKE_HINT})")
    try:
        examples = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NSynthError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(examples, dict):
        raise NSynthError(f"{path}: expected a JSON object keyed by note_str, found {type(examples).__name__}")
    if not examples:
        raise NSynthError(f"{path}: lists no notes (empty split)")
    return examples


def _selection_order(keys: list[str], seed: int) -> list[str]:
    """Sorted keys in a seeded random order (the same seed always gives the same order)."""
    keys = sorted(keys)
    order = np.random.default_rng(seed).permutation(len(keys))
    return [keys[i] for i in order]


def budget_examples(hours: float, split: str) -> int:
    """Clips of one split under a HEAR-like budget named in hours.

    HEAR names its NSynth budgets by nominal hours at 1000 clips per hour, split 80/10/10 %:
    "5h" is 4000 / 500 / 500 clips (5.6 h of 4 s audio), "50h" 40000 / 5000 / 5000.
    """
    if hours <= 0:
        raise NSynthError(f"hour budget must be positive, got {hours}")
    return max(1, int(round(hours * HEAR_CLIPS_PER_HOUR * HEAR_SPLIT_FRACTIONS[split])))


def load_split(root: str | Path, split: str, max_examples: int | None = None, seed: int = 0,
               skip_bad: bool = False, hours: float | None = None, check_audio: bool = True) -> NSynthSplit:
    """Load one NSynth split, optionally a seeded subset, validating entries and wav headers.

    Args:
        root: folder holding nsynth-{train,valid,test}/.
        split: "train", "valid" or "test".
        max_examples: keep at most this many notes (a seeded random subset); None keeps all.
        seed: the subset's seed (same seed, same subset).
        skip_bad: skip notes with bad entries or audio (listed in `.skipped`) instead of raising.
        hours: a HEAR-like total budget in hours (`budget_examples`); combined with max_examples by min.
        check_audio: check every selected wav header (rate 16 kHz, mono, 64000 samples).

    Raises:
        NSynthError: the first problem found (file and reason named) when skip_bad is False, or when
            every note of the split is bad.
    """
    folder = split_dir(root, split)
    examples = read_examples(root, split)
    audio_dir = folder / "audio"
    if check_audio and not audio_dir.is_dir():
        raise NSynthError(f"{audio_dir}: audio folder is missing ({_MAKE_HINT})")
    limit = len(examples)
    if max_examples is not None:
        if max_examples < 1:
            raise NSynthError(f"max_examples must be at least 1, got {max_examples}")
        limit = min(limit, max_examples)
    if hours is not None:
        limit = min(limit, budget_examples(hours, split))
    keep_all = limit == len(examples)
    notes: list[Note] = []
    skipped: list[tuple[str, str]] = []
    where = folder / "examples.json"
    for key in (sorted(examples) if keep_all else _selection_order(list(examples), seed)):
        if len(notes) >= limit:
            break
        try:
            note = note_from_json(key, examples[key], audio_dir, where)
            if check_audio:
                try:
                    wav_info(note.path, SAMPLE_RATE, NUM_SAMPLES, 1)
                except AudioFileError as err:
                    raise NSynthError(f"{err} (named by {where})") from err
        except NSynthError as err:
            if not skip_bad:
                raise
            skipped.append((key, str(err)))
            continue
        notes.append(note)
    if not notes:
        raise NSynthError(f"{where}: all {len(skipped)} notes are bad; first: {skipped[0][1] if skipped else '-'}")
    notes.sort(key=lambda n: n.note_str)
    return NSynthSplit(Path(root), split, notes, skipped)


def split_limits(spec: int | str | Sequence[int] | None) -> dict[str, int | None]:
    """Notes to keep per split from a spec: None (all), N (each split), or "TRAIN,VALID,TEST" / (t, v, e).

    A 0 means "all notes" for that split.
    """
    if spec is None:
        return {s: None for s in SPLITS}
    if isinstance(spec, str):
        try:
            values = [int(v) for v in spec.split(",")]
        except ValueError:
            raise NSynthError(f"max per split {spec!r}: expected N or TRAIN,VALID,TEST (integers)") from None
    elif isinstance(spec, int):
        values = [spec]
    else:
        values = [int(v) for v in spec]
    if len(values) == 1:
        values = values * len(SPLITS)
    if len(values) != len(SPLITS) or any(v < 0 for v in values):
        raise NSynthError(f"max per split {spec!r}: expected N or TRAIN,VALID,TEST, each >= 0 (0 = all)")
    return {s: (v or None) for s, v in zip(SPLITS, values)}


def load_splits(root: str | Path, max_examples: int | str | Sequence[int] | None = None, seed: int = 0,
                skip_bad: bool = False, hours: float | None = None) -> dict[str, NSynthSplit]:
    """`load_split` for train, valid and test (limits per `split_limits`); checks instrument-disjointness."""
    limits = split_limits(max_examples)
    splits = {s: load_split(root, s, limits[s], seed, skip_bad, hours) for s in SPLITS}
    check_instrument_disjoint(splits)
    return splits


def check_instrument_disjoint(splits: dict[str, NSynthSplit]) -> None:
    """Raise NSynthError if an instrument_str occurs in more than one split (NSynth's splits are disjoint)."""
    seen: dict[str, str] = {}
    for name, split in splits.items():
        for inst in {n.instrument_str for n in split.notes}:
            if inst in seen and seen[inst] != name:
                raise NSynthError(f"{split.root}: instrument {inst!r} occurs in both {seen[inst]} and {name}")
            seen[inst] = name


def load_audio_batch(notes: list[Note]) -> np.ndarray:
    """Read the audio of `notes`: float32 array of shape (len(notes), 64000) at 16 kHz."""
    out = np.empty((len(notes), NUM_SAMPLES), dtype=np.float32)
    for i, note in enumerate(notes):
        out[i] = read_audio(note.path)
    return out


def labels(notes: list[Note], task: str | Task) -> np.ndarray:
    """Class indices of `notes` for a task: int64 array of shape (len(notes),); notes it drops (`Task.kept`) raise."""
    task_obj = get_task(task) if isinstance(task, str) else task
    return np.fromiter((task_obj.label(n) for n in notes), dtype=np.int64, count=len(notes))


def get_task(name: str) -> Task:
    """The task called `name` ("pitch", "pitch88" or "instrument"), with an error listing the choices."""
    if name not in TASKS:
        raise NSynthError(f"unknown task {name!r}: expected one of {', '.join(TASKS)}")
    return TASKS[name]
