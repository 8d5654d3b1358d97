"""Which General MIDI programs become which NSynth instruments, and in which split.

A GM program (1-based, as printed in the GM spec) maps to an NSynth family and source; every
melodic preset of a soundfont (any bank but the drum bank 128) with a mapped program is an
instrument, possibly several with `variants` (post-filters, see `apply_variant`). Splits are
instrument-disjoint at the preset level: all variants of a preset share one split, and synth_lead
presets go to train only, as in NSynth. Within one soundfont, valid and test each get a quarter of a
family's presets (at least one), so the instrument task is tested on as many instruments per family as
the family allows while train keeps at least half; several soundfonts are split one by one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pretrain.datagen.nsynth_layout import FAMILIES, PITCH_MIN, SAMPLE_RATE, SOURCES

A, E, S = "acoustic", "electronic", "synthetic"

# (first GM program, last GM program, family, sources of the programs in order): 1-based program numbers.
GM_TABLE: tuple[tuple[int, int, str, tuple[str, ...]], ...] = (
    (1, 8, "keyboard", (A, A, E, A, E, E, A, E)),  # pianos, electric pianos, harpsichord, clavinet
    (9, 16, "mallet", (A,) * 8),  # celesta, glockenspiel, music box, vibraphone, marimba, xylophone, bells, dulcimer
    (17, 24, "organ", (E, E, E, A, A, A, A, A)),  # drawbar/percussive/rock, church, reed organ, accordions, harmonica
    (25, 32, "guitar", (A, A, E, E, E, E, E, E)),  # nylon, steel, jazz, clean, muted, overdriven, distortion, harmonics
    (33, 40, "bass", (A, E, E, E, E, E, S, S)),  # acoustic, finger, pick, fretless, slap 1/2, synth bass 1/2
    (41, 47, "string", (A,) * 7),  # violin, viola, cello, contrabass, tremolo, pizzicato, harp (48 timpani: skipped)
    (49, 52, "string", (A, A, S, S)),  # string ensembles 1/2, synth strings 1/2 (extra)
    (53, 55, "vocal", (A, A, S)),  # choir aahs, voice oohs, synth voice
    (57, 64, "brass", (A, A, A, A, A, A, S, S)),  # trumpet, trombone, tuba, muted trumpet, horn, section, synth brass
    (65, 72, "reed", (A,) * 8),  # saxophones, oboe, english horn, bassoon, clarinet
    (73, 80, "flute", (A,) * 8),  # piccolo, flute, recorder, pan flute, bottle, shakuhachi, whistle, ocarina
    (81, 88, "synth_lead", (S,) * 8),  # square, saw, calliope, chiff, charang, voice, fifths, bass+lead
    (92, 92, "vocal", (S,)),  # pad 4 (choir) (extra)
    (105, 108, "guitar", (A,) * 4),  # sitar, banjo, shamisen, koto (extra)
    (109, 109, "mallet", (A,)),  # kalimba (extra)
    (110, 110, "reed", (A,)),  # bagpipe (extra)
    (111, 111, "string", (A,)),  # fiddle (extra)
    (112, 112, "reed", (A,)),  # shanai (extra)
    (113, 113, "mallet", (A,)),  # tinkle bell (extra)
    (115, 115, "mallet", (A,)),  # steel drums (extra)
)

# Pitches tried per family (MIDI, inclusive): playing ranges, widened; only audible ones are kept.
FAMILY_PITCH_RANGE: dict[str, tuple[int, int]] = {
    "bass": (21, 72), "brass": (34, 88), "flute": (48, 100), "guitar": (36, 91), "keyboard": (21, 108),
    "mallet": (41, 108), "organ": (24, 103), "reed": (30, 93), "string": (24, 103),
    "synth_lead": (PITCH_MIN, 108), "vocal": (36, 84),
}

VARIANTS: tuple[str, ...] = ("dry", "dark", "bright", "room", "darkroom")  # timbre variants of one preset
EVAL_FRACTION = 0.25  # of a family's presets to valid and to test each: floor, at least 1 (synth_lead: 0)
MIN_SPLIT_PRESETS = 3  # families with fewer presets in a soundfont stay in train


def _program_map() -> dict[int, tuple[str, str]]:
    table: dict[int, tuple[str, str]] = {}
    for first, last, family, sources in GM_TABLE:
        assert family in FAMILIES and len(sources) == last - first + 1 and set(sources) <= set(SOURCES)
        for program, source in zip(range(first, last + 1), sources):
            table[program] = (family, source)
    return table


GM_PROGRAMS: dict[int, tuple[str, str]] = _program_map()  # 1-based GM program -> (family, source)


def gm_family(program: int) -> tuple[str, str] | None:
    """(family, source) of a 1-based GM program, or None for programs not used (drums, pads, effects)."""
    return GM_PROGRAMS.get(program)


@dataclass(frozen=True)
class Instrument:
    """One rendered instrument: a soundfont preset (bank, 0-based MIDI program) with a timbre variant;
    `font` indexes the soundfonts of the render (0 for the first or only one)."""

    instrument: int  # running id, unique in a render
    bank: int
    program: int  # 0-based MIDI program number (GM program - 1)
    preset_name: str
    family: str
    source: str
    variant: str
    split: str
    font: int = 0

    @property
    def instrument_str(self) -> str:
        """NSynth's instrument name, e.g. "bass_synthetic_033"."""
        return f"{self.family}_{self.source}_{self.instrument:03d}"


def eval_presets(n: int, family: str) -> int:
    """Presets of a family (n in one soundfont) that go to valid, and as many to test: floor(n / 4), at least 1;
    none for synth_lead (train only, as in NSynth) or a family with fewer than 3 presets."""
    if family == "synth_lead" or n < MIN_SPLIT_PRESETS:
        return 0
    return max(1, int(EVAL_FRACTION * n))


def assign_splits(presets: list[tuple[int, int, str]], seed: int | Sequence[int]) -> dict[tuple[int, int], str]:
    """Assign each preset (bank, 0-based program, name) of one soundfont's mapped programs to one split.

    Per family, presets are shuffled with `seed`; `eval_presets(n)` go to test, as many to valid, the
    rest (at least half) to train.

    Returns:
        {(bank, program): split}.
    """
    rng = np.random.default_rng(seed)
    by_family: dict[str, list[tuple[int, int]]] = {f: [] for f in FAMILIES}
    for bank, program, _ in sorted(presets):
        mapped = gm_family(program + 1)
        if mapped is not None:
            by_family[mapped[0]].append((bank, program))
    splits: dict[tuple[int, int], str] = {}
    for family, keys in by_family.items():
        order = [keys[i] for i in rng.permutation(len(keys))]
        n_valid = n_test = eval_presets(len(order), family)
        for i, key in enumerate(order):
            splits[key] = "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
    return splits


def stratified_pitches(pitches: list[int], count: int | None, rng: np.random.Generator) -> list[int]:
    """`count` pitches spread over `pitches` (one random pick per equal-width stratum); all if count is None."""
    if count is None or count >= len(pitches):
        return list(pitches)
    edges = np.linspace(0, len(pitches), count + 1)
    return [pitches[int(rng.integers(int(lo), max(int(lo) + 1, int(hi))))] for lo, hi in zip(edges[:-1], edges[1:])]


def _room_ir(seed: int, seconds: float = 0.35) -> np.ndarray:
    """A small room impulse response: float32 (seconds * 16000,), exponentially decaying noise, unit energy."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ir = np.random.default_rng(seed).standard_normal(n) * np.exp(-t * 6.9 / seconds)  # -60 dB at the end
    ir[0] = 0.0
    return (ir / np.sqrt(np.sum(ir ** 2))).astype(np.float32)


def apply_variant(audio: np.ndarray, variant: str, seed: int) -> np.ndarray:
    """Apply a timbre variant to one note: float32 (n,) at 16 kHz -> float32 (n,), RMS kept, no new pitch.

    dry: unchanged; dark: 2nd-order low-pass at 2 kHz; bright: pre-emphasis (1 - 0.85 z^-1);
    room: 30 % wet convolution with a 0.35 s decaying-noise response; darkroom: dark then room.
    """
    if variant == "dry":
        return audio
    from scipy import signal

    out = audio.astype(np.float64)
    if variant in ("dark", "darkroom"):
        out = signal.sosfilt(signal.butter(2, 2000.0, fs=SAMPLE_RATE, output="sos"), out)
    if variant == "bright":
        out = signal.lfilter([1.0, -0.85], [1.0], out)
    if variant in ("room", "darkroom"):
        wet = signal.fftconvolve(out, _room_ir(seed))[: len(out)]
        out = 0.7 * out + 0.3 * wet
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    rms_in = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    rms_out = float(np.sqrt(np.mean(out ** 2)))
    if rms_out > 0:
        out *= rms_in / rms_out
    return out.astype(np.float32)

