"""The one file and audio IO toolkit: atomic files and folders, wav writing, audio reading.

Every package writes files through here (``hear_w2v_music`` writes none), so "how a file is written
safely" and "how any audio file becomes mono 16 kHz" each have one definition:

- `atomic_path` (and `write_text_atomic`, `write_json_atomic`, `write_wav`): a temporary sibling
  ``.<name>.<random><suffix>`` in the same folder, created with the ordinary mode of new files
  (0666 minus the umask, not mkstemp's private 0600), optionally fsync'ed, then ``os.replace``d onto
  the name; removed if the writer fails. A reader never sees a half-written file.
- `atomic_dir`: a folder is built under a hidden sibling name and renamed into place only when
  complete (fresh each time, or resumable from ``.<name>.partial``).
- `load_audio` / `read_mono` / `resample`: any file soundfile reads -> mono float32 -> 16 kHz (soxr HQ).
- `wav_info` / `read_wav`: checked reading of a wav whose rate, length and channels are known.

Torch-free on purpose (numpy + soundfile + soxr, stdlib), so data tools and their worker processes
stay light. Every error names the file and says what was expected.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import wave
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import soundfile as sf

from hear_w2v_music.frames import SAMPLE_RATE

PARTIAL_SUFFIX = ".partial"  # of the hidden folder a resumable `atomic_dir` is built in


class AudioFileError(ValueError):
    """An audio file that is missing, unreadable, or not in the expected format."""


# ---------------------------------------------------------------------------------------------- files

def _umask() -> int:
    """The process umask (from /proc, which leaves it untouched; 0o022 where /proc is absent)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def file_mode() -> int:
    """The mode an ordinary new file gets here: 0o666 minus the umask (0o644 under umask 022)."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """The mode an ordinary new folder gets here: 0o777 minus the umask (0o755 under umask 022)."""
    return 0o777 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp", fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; rename it onto ``path`` when the block succeeds.

    Args:
        path: the final file; its folder is created if missing.
        suffix: of the temporary name; matters to writers that infer the format from it (``.png``,
            ``.npy``). `remove_temporaries` finds leftovers of killed writers by it.
        fsync: flush the written data to disk before the rename (checkpoints: a crash right after
            the rename then cannot leave an empty file under the final name).

    The temporary file has the ordinary mode (`file_mode`) and is removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.fchmod(fd, file_mode())
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name, then rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file under a temporary name, then rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> None:
    """Write `obj` as JSON (and a final newline) under a temporary name, then rename."""
    write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")


def remove_temporaries(folder: str | os.PathLike, suffix: str = ".tmp", recursive: bool = False) -> list[Path]:
    """Delete the hidden ``.<name>.*<suffix>`` files that `atomic_path` leaves when its process is killed.

    Looks in ``folder`` (and its subfolders with ``recursive``); returns the files deleted. Only for
    folders that one process owns (a run directory, a partial dataset): a live writer's temporary
    would be deleted too.
    """
    pattern = f".*{suffix}"
    found = Path(folder).rglob(pattern) if recursive else Path(folder).glob(pattern)
    removed = sorted(p for p in found if p.is_file())
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


# -------------------------------------------------------------------------------------------- folders

def partial_dir(final: str | os.PathLike) -> Path:
    """The hidden sibling ``.<name>.partial`` where a resumable `atomic_dir` builds ``final``."""
    final = Path(final)
    return final.parent / f".{final.name}{PARTIAL_SUFFIX}"


def open_partial_dir(final: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check ``final`` and return its (created, possibly resumed) `partial_dir`.

    ``final`` may be absent or an empty folder; anything else is a FileExistsError unless ``overwrite``.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        if not final.is_dir():
            raise FileExistsError(f"{final}: already exists and is not a directory")
        if any(final.iterdir()):
            raise FileExistsError(f"{final}: already exists and is not empty (remove it, or choose another output)")
    work = partial_dir(final)
    work.mkdir(parents=True, exist_ok=True)
    return work


def publish_dir(work: str | os.PathLike, final: str | os.PathLike) -> None:
    """Rename the finished folder ``work`` to ``final``; an existing ``final`` is replaced, then deleted."""
    work, final = Path(work), Path(final)
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(work, final)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        os.replace(work, final)


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, overwrite: bool = False, resume: bool = False) -> Iterator[Path]:
    """Build a folder under a hidden sibling name; rename it to ``final`` only if the block succeeds.

    A half-built folder therefore never appears at ``final``; it gets the ordinary folder mode.

    Args:
        final: the folder to publish (its parent is created).
        overwrite: replace an existing ``final`` (after the block succeeded). Without it an existing
            ``final`` is a FileExistsError raised before any work starts; with ``resume`` an empty
            folder is accepted (and replaced).
        resume: build in `partial_dir` (``.<name>.partial``) and keep it when the block raises, so
            rerunning the same command continues from the files already there. Otherwise the
            folder is a fresh temporary, deleted when the block raises.

    Yields:
        the folder to fill.
    """
    final = Path(final)
    if resume:
        work = open_partial_dir(final, overwrite)
        yield work
        publish_dir(work, final)
        return
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final}: already exists (remove it, or choose another output)")
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=PARTIAL_SUFFIX, dir=final.parent))
    try:
        work.chmod(dir_mode())  # mkdtemp makes private 0700 folders
        yield work
        publish_dir(work, final)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------------------------- wavs

def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """Encode float audio in [-1, 1], shape (n,) or (n, channels), as a 16-bit PCM wav file (bytes).

    Values outside [-1, 1] are clipped; sample_rate in Hz. Uses the stdlib `wave` writer: one buffer,
    one write, which is several times faster than libsndfile's many small writes on slow disks.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio must have shape (n,) or (n, channels), got {audio.shape}")
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1 if audio.ndim == 1 else audio.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """Write audio (float in [-1, 1], shape (n,) or (n, channels)) as 16-bit PCM wav at sample_rate Hz, atomically."""
    write_bytes_atomic(path, wav_bytes(audio, sample_rate))


def wav_info(path: str | os.PathLike, sample_rate: int | None = None, num_samples: int | None = None,
             channels: int | None = 1) -> tuple[int, int, int]:
    """Read an audio file's header and check it (no samples decoded).

    Args:
        path: the audio file.
        sample_rate: expected rate in Hz (None: any).
        num_samples: expected length in samples per channel (None: any).
        channels: expected channel count (None: any).

    Returns:
        (sample_rate in Hz, frames in samples per channel, channels).

    Raises:
        AudioFileError: missing file, unreadable header, or a rate/length/channel mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: audio file is missing")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as err:  # LibsndfileError subclasses RuntimeError in new soundfile
        raise AudioFileError(f"{path}: not a readable audio file ({err})") from err
    if sample_rate is not None and info.samplerate != sample_rate:
        raise AudioFileError(f"{path}: sample rate is {info.samplerate} Hz, expected {sample_rate} Hz")
    if channels is not None and info.channels != channels:
        raise AudioFileError(f"{path}: has {info.channels} channels, expected {channels}")
    if num_samples is not None and info.frames != num_samples:
        raise AudioFileError(f"{path}: has {info.frames} samples, expected {num_samples} "
                             f"({num_samples / info.samplerate:.2f} s at {info.samplerate} Hz)")
    return int(info.samplerate), int(info.frames), int(info.channels)


def read_wav(path: str | os.PathLike, sample_rate: int | None = None, num_samples: int | None = None,
             mono: bool = True) -> np.ndarray:
    """Read an audio file of a known format as float32 in [-1, 1], checking it (never resampled).

    Args:
        path: the audio file.
        sample_rate: expected rate in Hz (None: any).
        num_samples: expected length in samples (None: any).
        mono: if True the file must have one channel and the result has shape (num_samples,);
            otherwise the result has shape (num_samples, channels).

    Raises:
        AudioFileError: as `wav_info`, or samples that cannot be decoded (a truncated or corrupt file).
    """
    wav_info(path, sample_rate, num_samples, 1 if mono else None)
    try:
        audio, _ = sf.read(str(path), dtype="float32", always_2d=not mono)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise AudioFileError(f"{path}: audio data cannot be decoded ({err})") from err
    if num_samples is not None and audio.shape[0] != num_samples:
        raise AudioFileError(f"{path}: decoded {audio.shape[0]} samples, expected {num_samples} (truncated file?)")
    return audio


# ------------------------------------------------------------------------------ any file -> mono 16 kHz

def read_mono(path: str | os.PathLike, start: int = 0, frames: int = -1,
              finite: bool = True) -> tuple[np.ndarray, int]:
    """Read (part of) any file soundfile reads and mix it down to mono.

    Args:
        path: the audio file (any format, rate and channel count).
        start: first sample to read, at the file's own rate.
        frames: samples to read (-1: to the end).
        finite: reject NaN or Inf samples (checked in every channel, before mixing).

    Returns:
        (float32 audio of shape (n,), the file's sample rate in Hz).

    Raises:
        AudioFileError: an unreadable file, or (with ``finite``) non-finite samples.
    """
    try:
        audio, rate = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioFileError(f"cannot read audio from {path}: {err}") from err
    if finite:
        ok = np.isfinite(audio).all(axis=1)
        if not ok.all():
            raise AudioFileError(f"{path} holds NaN or Inf samples ({int((~ok).sum())} of {ok.size} frames, the "
                                 f"first at {int(np.argmin(ok)) / rate:.3f} s); expected finite samples in [-1, 1]")
    return audio.mean(axis=1), int(rate)


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Resample mono float audio (n,) from ``rate`` Hz to ``target`` Hz with soxr (HQ); float32, unchanged if equal."""
    if rate == target:
        return audio
    import soxr

    return soxr.resample(audio, rate, target, quality="HQ").astype(np.float32)


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Any audio file -> mono float32 at ``sample_rate`` Hz (16 kHz by default), shape (n_samples,).

    Raises AudioFileError (a ValueError) naming the file when it cannot be read, is empty or holds
    NaN or Inf.
    """
    mono, rate = read_mono(path)
    mono = resample(mono, rate, sample_rate)
    if mono.size == 0:
        raise AudioFileError(f"{path} holds no samples")
    return np.ascontiguousarray(mono, dtype=np.float32)
