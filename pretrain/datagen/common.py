"""What the three renderers share (`make-nsynth`, `make-corpus`, `make-speech`): summary, soundfont, pool.

- `RenderSummary`: what a render produced (files, seconds of audio, wall time, skips, details).
- `default_soundfont` / `check_soundfont`: TimGM6mb.sf2 from pretty_midi unless a .sf2/.sf3 is given.
- `worker_pool` / `run_in_order`: the one process-pool policy. Workers are *spawned* (a fresh
  interpreter), never forked: forking a process that has imported torch (whose threads hold locks)
  can deadlock, and a render is often started from such a process. Workers ignore Ctrl-C (the parent
  handles it) and use one thread each. `run_in_order` consumes results *in job order*, so which jobs
  make an hour budget depends on the seed only, never on the number of workers or their timing.
- budgets (`check_hours`, `check_workers`), `time_limit` per job, `prune_unlisted`, `normalize_peak`.

Files and folders are written with `pretrain.fileio` (`write_wav`, `write_text_atomic`, `atomic_dir`):
the output is built in a hidden sibling folder and renamed into place only when complete.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

J = TypeVar("J")
R = TypeVar("R")


@dataclass
class RenderSummary:
    """What a renderer produced.

    ``files`` is the number of audio files written (notes, pieces, utterances), ``audio_s`` their
    total duration in seconds, ``wall_s`` the wall-clock time of the call in seconds (work resumed
    from an earlier run counts only as far as it was redone), ``skipped`` counts skipped jobs by
    reason, ``details`` renderer-specific counts (splits, instruments, voices, timing).
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


def default_soundfont() -> Path:
    """The General MIDI soundfont shipped inside pretty_midi (TimGM6mb.sf2, 6 MB, 128 melodic presets)."""
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def check_soundfont(soundfont: str | Path | None) -> Path:
    """Resolve and validate a soundfont path (an existing .sf2 or .sf3; None: `default_soundfont`)."""
    path = Path(soundfont) if soundfont else default_soundfont()
    if not path.is_file():
        raise FileNotFoundError(f"soundfont not found: {path} (expected an existing .sf2 or .sf3 file)")
    if path.suffix.lower() not in (".sf2", ".sf3"):
        raise ValueError(f"soundfont {path} must be a .sf2 or .sf3 file")
    return path


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


def _worker_init(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """Pool workers ignore Ctrl-C (the parent handles it), use one thread each, then run `initializer`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if initializer is not None:
        initializer(*initargs)


@contextmanager
def worker_pool(workers: int, initializer: Callable[..., None] | None = None, initargs: tuple = (),
                maxtasksperchild: int | None = None) -> Iterator[Pool]:
    """A pool of `workers` spawned processes, each running ``initializer(*initargs)`` once.

    Leaving the block normally waits for the workers to exit; leaving it by an exception (or by
    closing a generator that holds it) terminates them. Functions and arguments sent to the
    workers must be picklable (module-level functions, dataclasses, `functools.partial`).
    """
    pool = mp.get_context("spawn").Pool(workers, _worker_init, (initializer, initargs), maxtasksperchild)
    try:
        yield pool
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()


def run_in_order(fn: Callable[[J], R], jobs: Iterable[J], workers: int) -> Iterator[R]:
    """Yield ``fn(job)`` for each job, in job order, computed by `workers` spawned processes.

    The caller may stop iterating at any time (for example when its budget is met; close the
    generator, e.g. with `contextlib.closing`); the pool is then terminated. With one worker
    everything runs in this process.
    """
    if workers <= 1:
        for job in jobs:
            yield fn(job)
        return
    with worker_pool(workers, maxtasksperchild=50) as pool:
        yield from pool.imap(fn, jobs, chunksize=1)


def progress(total_s: float, desc: str) -> Any:
    """A tqdm bar counting seconds of rendered audio up to `total_s`."""
    from tqdm import tqdm

    return tqdm(total=round(total_s), desc=desc, unit="s audio", dynamic_ncols=True,
                mininterval=1.0, smoothing=0.1)


def wall_clock() -> float:
    """A monotonic clock in seconds."""
    return time.perf_counter()
