"""Pretraining audio sources: MusicNet layout or any folder of audio -> cached manifest -> segments.

- A folder holding ``train_data/`` (MusicNet: ``train_data/*.wav`` at 44.1 kHz, ``train_labels/*.csv``,
  ``test_data/``) contributes the splits named in the config (``["train"]`` by default).
- Any other folder contributes every file soundfile can read, recursively.

The manifest lists ``(path, frames, sample_rate)`` per file; it is cached as JSON per folder and
re-probed only for files whose size or mtime changed. Unreadable files are skipped and counted.
Each recording is cut into segments of ``segment_seconds`` every ``hop_seconds`` (20 s / 10 s in
the paper); the reader resamples them to 16 kHz with soxr.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile as sf

from pretrain.fileio import write_text_atomic

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".au", ".mp3", ".opus"}
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class AudioFile:
    """One manifest entry: ``frames`` at ``sample_rate`` Hz, probed at ``mtime_ns`` / ``size`` bytes."""

    path: str
    frames: int
    sample_rate: int
    mtime_ns: int
    size: int

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class Segment:
    """A slice of one file: ``start`` and ``frames`` in samples at the file's ``sample_rate``."""

    path: str
    start: int
    frames: int
    sample_rate: int

    def length_at(self, rate: int) -> int:
        """Length in samples once resampled to ``rate`` Hz."""
        return int(self.frames * rate // self.sample_rate)


@dataclass
class Manifest:
    """Readable files of some folders, plus the paths that could not be read."""

    files: list[AudioFile]
    skipped: list[str]

    @property
    def hours(self) -> float:
        """Total audio in hours."""
        return sum(f.seconds for f in self.files) / 3600.0


def is_musicnet(root: Path) -> bool:
    """True for a folder in MusicNet's layout (``train_data/`` or ``test_data/`` inside)."""
    return (root / "train_data").is_dir() or (root / "test_data").is_dir()


def list_audio(root: str | Path, musicnet_splits: tuple[str, ...] | list[str] = ("train",)) -> list[Path]:
    """The audio files of a folder, sorted: MusicNet ``{split}_data/*.wav`` or every audio file below it."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    if is_musicnet(root):
        files = []
        for split in musicnet_splits:
            if split not in ("train", "test"):
                raise ValueError(f"MusicNet split {split!r}: expected 'train' or 'test'")
            files += sorted((root / f"{split}_data").glob("*.wav"))
        return files
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def _cache_path(root: Path, cache_dir: str | Path | None) -> Path:
    base = Path(cache_dir) if cache_dir else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "w2v-music" / "manifests"
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return base / f"{root.name}-{key}.json"


def _probe(path: Path, stat: os.stat_result) -> AudioFile | None:
    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - any unreadable file is skipped, never fatal
        return None
    if info.frames <= 0 or info.samplerate <= 0:
        return None
    return AudioFile(str(path), int(info.frames), int(info.samplerate), stat.st_mtime_ns, stat.st_size)


def build_manifest(root: str | Path, musicnet_splits: tuple[str, ...] | list[str] = ("train",),
                   cache_dir: str | Path | None = None) -> Manifest:
    """Manifest of one folder, reusing the cached entries whose size and mtime are unchanged."""
    root = Path(root)
    cache = _cache_path(root, cache_dir)
    cached: dict[str, dict] = {}
    if cache.is_file():
        try:
            payload = json.loads(cache.read_text())
            if payload.get("version") == MANIFEST_VERSION:
                cached = {e["path"]: e for e in payload["files"]}
        except (ValueError, KeyError, TypeError):
            cached = {}
    files, skipped, changed = [], [], False
    for path in list_audio(root, musicnet_splits):
        stat = path.stat()
        entry = cached.get(str(path))
        if entry and entry.get("mtime_ns") == stat.st_mtime_ns and entry.get("size") == stat.st_size:
            if entry.get("frames"):
                files.append(AudioFile(**{k: entry[k] for k in AudioFile.__dataclass_fields__}))
            else:
                skipped.append(str(path))
            continue
        changed = True
        probed = _probe(path, stat)
        if probed is None:
            skipped.append(str(path))
        else:
            files.append(probed)
    if changed or len(cached) != len(files) + len(skipped):
        entries = [asdict(f) for f in files]
        for path in skipped:  # remember unreadable files too (frames 0) so they are not re-probed
            stat = Path(path).stat()
            entries.append({"path": path, "frames": 0, "sample_rate": 0, "mtime_ns": stat.st_mtime_ns,
                            "size": stat.st_size})
        _write_json(cache, {"version": MANIFEST_VERSION, "root": str(root.resolve()), "files": entries})
    return Manifest(files, skipped)


def _write_json(path: Path, payload: dict) -> None:
    write_text_atomic(path, json.dumps(payload))


def segment_file(audio: AudioFile, segment_seconds: float, hop_seconds: float,
                 min_seconds: float) -> list[Segment]:
    """Segments of ``segment_seconds`` starting every ``hop_seconds``.

    A file shorter than one segment gives one segment of its whole length (none if it is shorter
    than ``min_seconds``). A 60 s file with 20 s / 10 s gives starts 0, 10, 20, 30, 40 s.
    """
    if segment_seconds <= 0 or hop_seconds <= 0:
        raise ValueError(f"segment ({segment_seconds} s) and hop ({hop_seconds} s) must be positive")
    sr = audio.sample_rate
    if audio.frames < min_seconds * sr:
        return []
    seg = int(round(segment_seconds * sr))
    if audio.frames <= seg:
        return [Segment(audio.path, 0, audio.frames, sr)]
    hop = int(round(hop_seconds * sr))
    count = (audio.frames - seg) // hop + 1
    return [Segment(audio.path, k * hop, seg, sr) for k in range(count)]


def collect_segments(roots: list[str | Path], segment_seconds: float = 20.0, hop_seconds: float = 10.0,
                     min_seconds: float = 2.0, musicnet_splits: tuple[str, ...] | list[str] = ("train",),
                     cache_dir: str | Path | None = None) -> tuple[list[Segment], list[str]]:
    """All segments of the given folders and the list of skipped (unreadable) files."""
    segments: list[Segment] = []
    skipped: list[str] = []
    for root in roots:
        manifest = build_manifest(root, musicnet_splits, cache_dir)
        skipped += manifest.skipped
        for audio in manifest.files:
            segments += segment_file(audio, segment_seconds, hop_seconds, min_seconds)
    if not segments:
        raise ValueError(f"no usable audio (>= {min_seconds} s, readable by soundfile) in {[str(r) for r in roots]}"
                         f"; {len(skipped)} file(s) unreadable")
    return segments, skipped
