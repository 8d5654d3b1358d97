"""make-nsynth: render NSynth-format notes offline from a General MIDI soundfont with tinysoundfont.

Each note is 4 s of 16-bit mono audio at 16 kHz: the key is held 3 s, then released for 1 s, at a
velocity from 25/50/75/100/127. Instruments are soundfont presets mapped to NSynth families by GM
program (`gm_families.GM_TABLE`); only pitches where a preset is audible are rendered. Several
soundfonts can be combined: each one's presets are distinct instruments, split one soundfont at a time
(`gm_families.assign_splits`), so every soundfont contributes to train, valid and test. The output
is the real NSynth layout (`nsynth_layout`; read by `eval_harness.nsynth`), built in a temporary
folder and renamed when complete. Qualities are all zeros (NSynth's are human annotations; none are made here).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pretrain.datagen import gm_families as gm
from pretrain.datagen.common import RenderSummary, default_soundfont, worker_pool
from pretrain.datagen.nsynth_layout import (
    CLIP_SECONDS, FAMILIES, NUM_SAMPLES, QUALITIES, SAMPLE_RATE, SOURCES, SPLITS, VELOCITIES,
)
from pretrain.fileio import atomic_dir, write_json_atomic, write_wav

HOLD_SECONDS = 3.0  # key held, s
RELEASE_SECONDS = 1.0  # after note-off, s
GAIN_DB = -6.0  # tinysoundfont global gain, dB
LIMIT_PEAK = 0.99  # notes peaking above this are scaled to it
SILENCE_PEAK = 10 ** (-45 / 20)  # a note whose peak stays below -45 dBFS is near-silent and skipped
PROBE_SECONDS = 0.25  # length of the audibility probe per pitch, s
PROBE_VELOCITY = 100
DRUM_BANK = 128


@dataclass(frozen=True)
class SizeSpec:
    """How many notes per instrument: `pitches` per preset (None: every audible pitch), velocities per pitch."""

    pitches: int | None
    velocities_per_pitch: int
    variants: int  # timbre variants per preset (gm_families.VARIANTS[:variants])
    eval_pitches: int | None = None  # pitches per valid/test preset (None: as `pitches`)


SIZES: dict[str, SizeSpec] = {
    "mini": SizeSpec(pitches=10, velocities_per_pitch=2, variants=1, eval_pitches=15),  # ~2.1k notes
    "small": SizeSpec(pitches=None, velocities_per_pitch=2, variants=1),  # ~15k notes
    "full": SizeSpec(pitches=None, velocities_per_pitch=5, variants=5),  # ~190k notes (NSynth: 306k)
}


@dataclass(frozen=True)
class NoteJob:
    """One note to render into `split`."""

    note_str: str
    split: str
    inst: gm.Instrument
    pitch: int  # MIDI
    velocity: int  # MIDI 1..127


class Renderer:
    """tinysoundfont rendering of single notes: `render(...)` -> float32 (64000,) at 16 kHz."""

    def __init__(self, soundfont: str | Path, oversample: int = 1):
        import tinysoundfont._tinysoundfont as tsf

        self.tsf = tsf
        try:
            self.sf = tsf.SoundFont(str(soundfont))
        except Exception as err:  # tinysoundfont raises its own exception type for unreadable files
            raise ValueError(f"{soundfont}: cannot be loaded as a soundfont ({err})") from err
        self.oversample = int(oversample)
        self.rate = SAMPLE_RATE * self.oversample
        self.sf.set_output(tsf.OutputMode.Mono, self.rate, GAIN_DB)

    def presets(self) -> list[tuple[int, int, str]]:
        """Melodic presets as (bank, 0-based program, name), drum bank excluded."""
        out = []
        for bank in range(DRUM_BANK):
            for program in range(128):
                index = self.sf.get_preset_index(bank, program)
                if index >= 0:
                    out.append((bank, program, self.sf.get_preset_name(index)))
        return sorted(out)

    def _run(self, font, seconds: float) -> np.ndarray:
        buf = np.zeros(int(round(seconds * self.rate)), dtype=np.float32)
        font.render(memoryview(buf).cast("B"))
        return buf

    def render(self, bank: int, program: int, pitch: int, velocity: int,
               hold: float = HOLD_SECONDS, release: float = RELEASE_SECONDS) -> np.ndarray:
        """One note: held `hold` s then released `release` s; float32 of shape (round((hold+release)*16000),).

        Each note plays on a fresh clone of the loaded soundfont (sample data shared, about a microsecond), so
        the result does not depend on earlier notes: tinysoundfont keeps some voice state across `reset()`.
        """
        index = self.sf.get_preset_index(bank, program)
        if index < 0:
            raise ValueError(f"soundfont has no preset bank {bank} program {program}")
        font = self.tsf.SoundFont(self.sf)
        font.set_output(self.tsf.OutputMode.Mono, self.rate, GAIN_DB)
        font.note_on(index, pitch, velocity / 127.0)
        held = self._run(font, hold)
        font.note_off(index, pitch)
        tail = self._run(font, release) if release > 0 else np.zeros(0, np.float32)
        audio = np.concatenate([held, tail])
        if self.oversample > 1:
            import soxr

            audio = soxr.resample(audio, self.rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
        return audio

    def audible_pitches(self, bank: int, program: int, lo: int, hi: int) -> list[int]:
        """Pitches lo..hi whose short probe note is finite and peaks above -45 dBFS (out-of-range keys are silent)."""
        keep = []
        for pitch in range(lo, hi + 1):
            probe = self.render(bank, program, pitch, PROBE_VELOCITY, PROBE_SECONDS, 0.0)
            if np.all(np.isfinite(probe)) and float(np.max(np.abs(probe))) >= SILENCE_PEAK:
                keep.append(pitch)
        return keep


# Worker-process state: one Renderer per process, set by the pool initializer.
_WORKER: dict = {}


def _init_worker(soundfonts: tuple[str, ...], oversample: int, audio_root: str) -> None:
    _WORKER["renderers"] = [Renderer(sf, oversample) for sf in soundfonts]
    _WORKER["audio_root"] = Path(audio_root)


def _probe(args: tuple[int, int, int, str]) -> tuple[int, int, int, list[int]]:
    font, bank, program, family = args
    lo, hi = gm.FAMILY_PITCH_RANGE[family]
    return font, bank, program, _WORKER["renderers"][font].audible_pitches(bank, program, lo, hi)


def _render_job(job: NoteJob) -> tuple[str, str]:
    """Render and write one note; returns (note_str, "ok" | "silent" | "limited")."""
    audio = _WORKER["renderers"][job.inst.font].render(job.inst.bank, job.inst.program, job.pitch, job.velocity)
    audio = gm.apply_variant(audio[:NUM_SAMPLES], job.inst.variant, job.inst.instrument)
    peak = float(np.max(np.abs(audio)))
    if not np.isfinite(peak) or peak < SILENCE_PEAK:
        return job.note_str, "silent"
    status = "ok"
    if peak > LIMIT_PEAK:  # rare loud notes are scaled down rather than clipped
        audio, status = audio * (LIMIT_PEAK / peak), "limited"
    path = _WORKER["audio_root"] / f"nsynth-{job.split}" / "audio" / f"{job.note_str}.wav"
    write_wav(path, audio, SAMPLE_RATE)
    return job.note_str, status


def plan_instruments(presets: list[tuple[int, int, str]], spec: SizeSpec, seed: int, font: int = 0,
                     first_id: int = 0) -> list[gm.Instrument]:
    """Instruments (preset x variant) of one soundfont's mapped GM programs with their splits.

    Ids run from `first_id` in (bank, program, variant) order; `font` is the soundfont's index in the
    render (its splits are drawn with seed [seed, font], the first soundfont's with `seed` itself).
    """
    splits = gm.assign_splits(presets, seed if font == 0 else [seed, font])
    out: list[gm.Instrument] = []
    for bank, program, name in sorted(presets):
        mapped = gm.gm_family(program + 1)
        if mapped is None:
            continue
        for variant in gm.VARIANTS[: spec.variants]:
            out.append(gm.Instrument(first_id + len(out), bank, program, name, mapped[0], mapped[1], variant,
                                     splits[(bank, program)], font))
    return out


def instruments_per_family(instruments: Sequence[gm.Instrument]) -> dict[str, dict[str, int]]:
    """Distinct instruments per split and family: {split: {family: count}} (every family listed)."""
    return {s: {f: len({i.instrument for i in instruments if i.split == s and i.family == f}) for f in FAMILIES}
            for s in SPLITS}


def selection_order(instruments: list[gm.Instrument], seed: int) -> list[gm.Instrument]:
    """Instruments in the order a capped render takes them: test, valid, train alternately, and within a
    split every family once (seeded shuffle inside a family) before any family twice."""
    rng = np.random.default_rng(seed)
    ranked: dict[str, list[tuple[int, int, gm.Instrument]]] = {s: [] for s in SPLITS}
    for family in FAMILIES:
        for split in SPLITS:
            group = [i for i in instruments if i.family == family and i.split == split]
            for rank, k in enumerate(rng.permutation(len(group))):
                ranked[split].append((rank, FAMILIES.index(family), group[k]))
    per_split = {s: [inst for _, _, inst in sorted(v, key=lambda t: t[:2])] for s, v in ranked.items()}
    order: list[gm.Instrument] = []
    for i in range(max(len(v) for v in per_split.values())):
        order.extend(per_split[s][i] for s in ("test", "valid", "train") if i < len(per_split[s]))
    return order


def plan_notes(instruments: list[gm.Instrument], audible: dict[tuple[int, int], list[int]], spec: SizeSpec,
               seed: int, max_notes: int | None = None) -> list[NoteJob]:
    """The notes to render, deterministic in `seed`.

    With `max_notes`, notes are taken round-robin (one per instrument per round) over `instruments`
    in the given order (see `selection_order`), so even a tiny render spans splits and families.
    """
    per_inst: list[list[NoteJob]] = []
    for inst in instruments:
        key = [seed, inst.bank, inst.program, gm.VARIANTS.index(inst.variant)] + ([inst.font] if inst.font else [])
        rng = np.random.default_rng(key)
        jobs = []
        count = spec.pitches if inst.split == "train" or spec.eval_pitches is None else spec.eval_pitches
        for pitch in gm.stratified_pitches(audible[(inst.font, inst.bank, inst.program)], count, rng):
            chosen = rng.choice(VELOCITIES, size=min(spec.velocities_per_pitch, len(VELOCITIES)), replace=False)
            for velocity in sorted(int(v) for v in chosen):
                jobs.append(NoteJob(f"{inst.instrument_str}-{pitch:03d}-{velocity:03d}", inst.split, inst,
                                    pitch, velocity))
        rng.shuffle(jobs)
        per_inst.append(jobs)
    if max_notes is None:
        return sorted((job for jobs in per_inst for job in jobs), key=lambda j: j.note_str)
    picked: list[NoteJob] = []
    for depth in range(max((len(j) for j in per_inst), default=0)):
        for jobs in per_inst:
            if depth < len(jobs) and len(picked) < max_notes:
                picked.append(jobs[depth])
    return picked


def _note_entry(job: NoteJob, note_id: int, soundfonts: Sequence[Path]) -> dict:
    inst = job.inst
    return {
        "note": note_id, "note_str": job.note_str, "instrument": inst.instrument, "instrument_str": inst.instrument_str,
        "pitch": job.pitch, "velocity": job.velocity, "sample_rate": SAMPLE_RATE,
        "qualities": [0] * len(QUALITIES), "qualities_str": [],
        "instrument_family": FAMILIES.index(inst.family), "instrument_family_str": inst.family,
        "instrument_source": SOURCES.index(inst.source), "instrument_source_str": inst.source,
        "preset": f"{inst.bank}:{inst.program}:{inst.preset_name}", "variant": inst.variant,
        "soundfont": soundfonts[inst.font].name,
    }


def render_nsynth(out: str | Path, soundfont: str | Path | Sequence[str | Path] | None = None, size: str = "mini",
                  workers: int = 2,
                  seed: int = 0, max_notes: int | None = None, overwrite: bool = False, progress: bool = True,
                  oversample: int = 1) -> RenderSummary:
    """Render an NSynth-format dataset into `out` (nsynth-{train,valid,test}/examples.json + audio/).

    Args:
        out: the dataset folder to create (built under a temporary name, renamed when complete).
        soundfont: a .sf2/.sf3 file, or several to combine; None (or empty) uses pretty_midi's TimGM6mb.sf2.
        size: "mini", "small" or "full" (see SIZES).
        workers: processes (1 renders in this process).
        seed: fixes splits, pitch and velocity choices.
        max_notes: render at most this many notes (round-robin over instruments; for tests).
        overwrite: replace an existing `out` once the new render is complete.
        progress: show a tqdm bar.
        oversample: render at 16 kHz x oversample and resample with soxr (less aliasing, slower).

    Returns:
        a RenderSummary: ``files`` notes of 4 s each; ``skipped`` {"silent": notes below -45 dBFS};
        ``details`` the record also written to out/render_summary.json (out, soundfont, size, seed,
        notes per split, instruments per split and family, skipped_silent, limited (notes scaled down
        to peak LIMIT_PEAK instead of clipping), seconds, notes_per_second, workers, extra: presets,
        oversample, max_notes, render-loop timing).
    """
    from tqdm import tqdm

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: expected one of {', '.join(SIZES)}")
    if workers < 1 or oversample < 1 or (max_notes is not None and max_notes < 1):
        raise ValueError("workers, oversample and max_notes must be at least 1")
    fonts = [soundfont] if isinstance(soundfont, (str, Path)) else list(soundfont or [])
    sf_paths = [Path(f) for f in fonts] or [default_soundfont()]
    for sf_path in sf_paths:
        if not sf_path.is_file() or sf_path.suffix.lower() not in (".sf2", ".sf3"):
            raise ValueError(f"{sf_path}: expected an existing .sf2 or .sf3 soundfont file")
    if len({p.resolve() for p in sf_paths}) < len(sf_paths):
        raise ValueError("the same soundfont is given twice")
    spec, start = SIZES[size], time.perf_counter()
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for split in SPLITS:
            (tmp / f"nsynth-{split}" / "audio").mkdir(parents=True)
        init = (tuple(str(p) for p in sf_paths), oversample, str(tmp))
        with contextlib.ExitStack() as stack:
            if workers == 1:
                _init_worker(*init)
                imap = map
            else:
                pool = stack.enter_context(worker_pool(workers, _init_worker, init))
                imap = lambda fn, items: pool.imap_unordered(fn, items, chunksize=8)  # noqa: E731
            instruments: list[gm.Instrument] = []
            for font, sf_path in enumerate(sf_paths):
                found = plan_instruments(Renderer(sf_path).presets(), spec, seed, font, len(instruments))
                if not found:
                    raise ValueError(f"{sf_path}: no melodic preset with a GM program mapped to an NSynth family")
                instruments += found
            if max_notes is not None:  # only the first instruments of the round-robin can contribute
                instruments = selection_order(instruments, seed)[: max_notes + 8]
            targets = sorted({(i.font, i.bank, i.program, i.family) for i in instruments})
            audible = {(f, b, p): pitches for f, b, p, pitches in imap(_probe, targets)}
            jobs = plan_notes(instruments, audible, spec, seed, max_notes)
            status: dict[str, str] = {}
            render_start = time.perf_counter()
            with tqdm(total=len(jobs), unit="note", disable=not progress, desc=f"make-nsynth {size}") as bar:
                for note_str, state in imap(_render_job, jobs):
                    status[note_str] = state
                    bar.update()
            render_seconds = time.perf_counter() - render_start
        kept = sorted((j for j in jobs if status[j.note_str] != "silent"), key=lambda j: j.note_str)
        for split in SPLITS:
            entries = {j.note_str: _note_entry(j, i, sf_paths) for i, j in enumerate(kept) if j.split == split}
            write_json_atomic(tmp / f"nsynth-{split}" / "examples.json", entries)
        seconds = time.perf_counter() - start
        record = {
            "out": str(out), "soundfont": ", ".join(str(p) for p in sf_paths), "size": size, "seed": seed,
            "notes": {s: sum(j.split == s for j in kept) for s in SPLITS},
            "instruments": instruments_per_family([j.inst for j in kept]),
            "skipped_silent": sum(v == "silent" for v in status.values()),
            "limited": sum(v == "limited" for v in status.values()),
            "seconds": round(seconds, 2), "notes_per_second": round(len(jobs) / max(seconds, 1e-9), 1),
            "workers": workers,
            "extra": {"presets": len({(i.font, i.bank, i.program) for i in instruments}), "oversample": oversample,
                      "max_notes": max_notes, "render_seconds": round(render_seconds, 3),
                      "render_notes_per_second": round(len(jobs) / max(render_seconds, 1e-9), 1)},
        }
        write_json_atomic(tmp / "render_summary.json", record)
    silent = record["skipped_silent"]
    return RenderSummary(out_dir=Path(out), files=len(kept), audio_s=len(kept) * CLIP_SECONDS,
                         wall_s=record["seconds"], skipped={"silent": silent} if silent else {}, details=record)

