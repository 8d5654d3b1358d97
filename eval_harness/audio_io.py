"""Small shared file helpers: checked wav reading and atomic writes of wav, json and directories.

Torch-free on purpose (numpy + soundfile only), so data tools and workers stay light. Every error
names the file and says what was expected.
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


class AudioFileError(ValueError):
    """A wav file that is missing, unreadable, or not in the expected format."""


def wav_info(path: str | os.PathLike, sample_rate: int | None = None, num_samples: int | None = None,
             channels: int | None = 1) -> tuple[int, int, int]:
    """Read a wav header and check it (no samples decoded).

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
    """Read an audio file as float32 in [-1, 1], checking its format.

    Args:
        path: the audio file.
        sample_rate: expected rate in Hz (None: any; the file is never resampled here).
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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; rename it onto ``path`` when the block succeeds.

    The temporary file is in the same folder (so the rename is atomic), mode 0644 (``mkstemp``
    alone makes private 0600 files), and removed if the block raises: a reader never sees a
    half-written ``path``. ``suffix`` matters to writers that infer the format from the name (PNG).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.fchmod(fd, 0o644)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_temporaries(folder: str | os.PathLike, suffix: str = ".tmp") -> list[Path]:
    """Delete the hidden ``.<name>.*<suffix>`` files that `atomic_path` writes in ``folder``; return them.

    A process killed mid-write leaves its temporary behind. Only for folders that one process owns
    (a run directory): a live writer's temporary would be deleted too.
    """
    found = sorted(p for p in Path(folder).glob(f".*{suffix}") if p.is_file())
    for p in found:
        p.unlink(missing_ok=True)
    return found


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """Encode float audio in [-1, 1], shape (n,) or (n, channels), as a 16-bit PCM wav file (bytes).

    Values outside [-1, 1] are clipped. Uses the stdlib `wave` writer: one buffer, one write, which
    is several times faster than libsndfile's many small writes on slow disks.
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
    """Write audio (float in [-1, 1], shape (n,) or (n, channels)) as 16-bit PCM wav, in one write."""
    Path(path).write_bytes(wav_bytes(audio, sample_rate))


def write_wav_atomic(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """`write_wav` under a temporary name, then rename (a reader never sees a half-written file)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(wav_bytes(audio, sample_rate))


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file under a temporary name, then rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> None:
    """Write `obj` as JSON under a temporary name, then rename."""
    write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary sibling name; rename it to `final` only if the block succeeds.

    A half-built directory therefore never appears at `final`. On an exception the temporary
    directory is removed. With `overwrite`, an existing `final` is replaced (after the block
    succeeded); otherwise an existing `final` is an error raised before any work starts.

    Yields:
        the temporary directory to fill.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final}: already exists (remove it, or choose another output)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
