"""Shared machinery of the offline corpus renderers (`make-corpus`, `make-speech`).

Both renderers turn an ordered list of jobs into audio files under an hour budget:
- the output is built in a hidden sibling directory ``.<name>.partial`` and renamed to ``<name>``
  only when complete, so a partially written corpus never looks finished; rerunning the same
  command resumes from the files already in the partial directory;
- every file is written under a temporary name and renamed;
- jobs run in a process pool (``workers``) and are consumed *in order*, so which jobs make the
  budget depends on the seed only, never on the number of workers or their timing.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

J = TypeVar("J")
R = TypeVar("R")


@dataclass
class RenderSummary:
    """What a renderer produced.

    ``audio_s`` is the total duration of the written audio in seconds, ``files`` the number of wav
    files, ``skipped`` counts skipped jobs by reason, ``wall_s`` the wall-clock time of the call in
    seconds (including work resumed from an earlier run only as far as it was redone), ``details``
    renderer-specific counts (splits, instruments, voices).
    """

    out_dir: Path
    files: int
    audio_s: float
    wall_s: float
    skipped: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def hours(self) -> float:
        """Total audio in hours."""
        return self.audio_s / 3600.0


class JobTimeout(Exception):
    """A job ran past its time limit."""


def check_hours(hours: float) -> float:
    """Validate an hour budget: a finite number > 0. Returns it in seconds."""
    if not np.isfinite(hours) or hours <= 0:
        raise ValueError(f"--hours must be a positive number of hours, got {hours!r}")
    return float(hours) * 3600.0


def check_workers(workers: int) -> int:
    """Validate a worker count (>= 1)."""
    if int(workers) < 1:
        raise ValueError(f"--workers must be at least 1, got {workers!r}")
    return int(workers)


def partial_dir(out_dir: Path) -> Path:
    """The hidden sibling directory where `out_dir` is built before the final rename."""
    return out_dir.parent / f".{out_dir.name}.partial"


def begin_output(out_dir: Path) -> Path:
    """Check `out_dir` and return the (possibly resumed) partial directory to write into.

    Raises FileExistsError when `out_dir` exists and is not an empty directory, so a finished
    corpus is never overwritten or mixed with another one.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise FileExistsError(f"output path {out_dir} exists and is not a directory")
        if any(out_dir.iterdir()):
            raise FileExistsError(
                f"output directory {out_dir} already exists and is not empty; "
                "choose a new path or remove it")
    work = partial_dir(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    return work


def finish_output(work: Path, out_dir: Path) -> None:
    """Atomically publish the partial directory `work` as `out_dir` (an empty `out_dir` is replaced)."""
    out_dir = Path(out_dir)
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    os.replace(work, out_dir)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write mono float audio in [-1, 1], shape (samples,), as 16-bit PCM wav, atomically."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
    sf.write(str(tmp), pcm, sample_rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def remove_temporaries(root: Path) -> None:
    """Delete leftover ``.*.tmp`` files of an interrupted run under `root`."""
    for tmp in root.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def prune_unlisted(root: Path, patterns: tuple[str, ...], keep: set[str]) -> int:
    """Delete files under `root` matching `patterns` whose stem is not in `keep`; returns how many.

    Called after the pool is terminated: a job cut off mid-way, or finished beyond the budget,
    must not leave files the corpus' index does not list.
    """
    removed = 0
    for pattern in patterns:
        for path in root.glob(pattern):
            if path.stem not in keep:
                path.unlink()
                removed += 1
    return removed


def normalize_peak(audio: np.ndarray, peak_db: float) -> np.ndarray:
    """Scale float audio, shape (samples,), so that its peak is `peak_db` dB re full scale."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0.0:
        return audio
    return (audio * (10.0 ** (peak_db / 20.0) / peak)).astype(np.float32)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise JobTimeout in the calling (main) thread if the block runs longer than `seconds`."""
    if seconds <= 0:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise JobTimeout(f"ran past its {seconds:.0f} s limit")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _worker_init() -> None:
    """Pool workers ignore Ctrl-C (the parent handles it) and use one thread each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_in_order(fn: Callable[[J], R], jobs: Iterable[J], workers: int) -> Iterator[R]:
    """Yield ``fn(job)`` for each job, in job order, computed by `workers` processes.

    The caller may stop iterating at any time (for example when its budget is met); the pool is
    then terminated. With one worker everything runs in this process. `fn` must be picklable.
    """
    if workers <= 1:
        for job in jobs:
            yield fn(job)
        return
    ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
    pool = ctx.Pool(workers, initializer=_worker_init, maxtasksperchild=50)
    try:
        yield from pool.imap(fn, jobs, chunksize=1)
    finally:
        pool.terminate()
        pool.join()


def progress(total_s: float, desc: str) -> Any:
    """A tqdm bar counting seconds of rendered audio up to `total_s`."""
    from tqdm import tqdm

    return tqdm(total=round(total_s), desc=desc, unit="s audio", dynamic_ncols=True,
                mininterval=1.0, smoothing=0.1)


def wall_clock() -> float:
    """A monotonic clock in seconds."""
    return time.perf_counter()
