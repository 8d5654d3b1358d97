"""Rendering throughput: NSynth-format notes per second (1 vs 2 workers, same run) and corpus hours per minute.

    .venv/bin/python benchmarks/render_speed.py [--notes 2000] [--corpus-hours 0.1] [--components]

Notes/s is reported twice: for the whole `render_nsynth` call (pool start, audibility probe, render,
writing examples.json) and for the render-and-write loop alone. Output goes to a temporary folder.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path


def bench_notes(notes: int, workers: int, tmp: Path) -> tuple[float, float]:
    """(end-to-end notes/s, render-loop notes/s) of rendering `notes` mini notes with `workers`."""
    from pretrain.datagen.nsynth_render import render_nsynth

    summary = render_nsynth(tmp / f"ns-{workers}", size="small", workers=workers, seed=0, max_notes=notes,
                            progress=False)
    return summary.files / summary.wall_s, summary.details["extra"]["render_notes_per_second"]


def bench_components(tmp: Path, n: int = 120) -> dict[str, float]:
    """Single-process rates (per second) of rendering one note at 16 kHz and at 32 kHz + soxr, and of writing
    one 4 s wav with soundfile.write vs fileio.write_wav."""
    import numpy as np
    import soundfile as sf

    from pretrain.datagen.common import default_soundfont
    from pretrain.datagen.nsynth_render import Renderer
    from pretrain.fileio import write_wav

    rates = {}
    for oversample in (1, 2):
        renderer = Renderer(default_soundfont(), oversample)
        start = time.perf_counter()
        for i in range(n):
            audio = renderer.render(0, (7 * i) % 96, 40 + i % 40, 100)
        rates[f"render notes/s, {16 * oversample} kHz"] = n / (time.perf_counter() - start)
    for name, write in (("soundfile.write", lambda p, a: sf.write(str(p), a, 16000, subtype="PCM_16")),
                        ("fileio.write_wav", lambda p, a: write_wav(p, a, 16000))):
        start = time.perf_counter()
        for i in range(n):
            write(tmp / f"w{i}.wav", audio)
        rates[f"wav files/s, {name}"] = n / (time.perf_counter() - start)
    return rates


def bench_corpus(hours: float, tmp: Path) -> float | None:
    """Corpus hours rendered per minute with 2 workers, or None when pretrain.datagen.corpus is not available."""
    if importlib.util.find_spec("pretrain.datagen.corpus") is None:
        return None
    from pretrain.datagen.corpus import render_corpus

    start = time.perf_counter()
    summary = render_corpus(tmp / "corpus", hours=hours, workers=2, seed=0, progress=False)
    wall = time.perf_counter() - start
    return (summary.audio_s / 3600.0) / (wall / 60.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=2000, help="notes per measurement")
    parser.add_argument("--components", action="store_true", help="also time render and wav writing alone")
    parser.add_argument("--corpus-hours", type=float, default=0.1, help="corpus audio to render (h); 0 skips")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="render_speed_") as tmp:
        if args.components:
            for name, rate in bench_components(Path(tmp)).items():
                print(f"{name}: {rate:.0f}")
        results = {w: bench_notes(args.notes, w, Path(tmp)) for w in (1, 2)}
        for w, (total, loop) in results.items():
            print(f"make-nsynth {args.notes} notes, {w} worker(s): {total:7.1f} notes/s end to end, "
                  f"{loop:7.1f} notes/s render loop")
        print(f"speed-up 2 vs 1 workers (render loop): {results[2][1] / results[1][1]:.2f}x")
        if args.corpus_hours > 0:
            rate = bench_corpus(args.corpus_hours, Path(tmp))
            print("make-corpus: pretrain.datagen.corpus not available" if rate is None else
                  f"make-corpus {args.corpus_hours} h, 2 workers: {rate:.2f} corpus hours per minute")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
