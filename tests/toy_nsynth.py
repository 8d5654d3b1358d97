"""Test helper: a toy NSynth-layout data set for the evaluation tests (`write_toy_nsynth`).

Notes are harmonic tones (4 s, 16 kHz, 16-bit) whose pitch is the label and whose timbre (the
harmonic roll-off) depends on the instrument family, so a linear probe can learn both tasks.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from eval_harness import nsynth

TOY_PITCHES = (48, 55, 60, 67)  # MIDI
TOY_FAMILIES = (0, 3, 4)  # bass, guitar, keyboard


def toy_tone(pitch: int, family: int, seconds: float = 4.0, sr: int = 16000) -> np.ndarray:
    """A decaying harmonic tone, float32 (seconds * sr,) in [-1, 1]; roll-off 1/k^(1 + family / 2)."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k ** (1 + family / 2) for k in range(1, 8) if k * f0 < sr / 2)
    tone = tone * np.exp(-t * (0.5 + family / 3))
    return (0.5 * tone / np.abs(tone).max()).astype(np.float32)


def write_toy_nsynth(root: Path, per_split: dict[str, int] | None = None, seed: int = 0) -> Path:
    """Write ROOT/nsynth-{train,valid,test}/ (examples.json + audio/*.wav); instruments differ per split."""
    per_split = per_split or {"train": 12, "valid": 6, "test": 6}
    rng = np.random.default_rng(seed)
    for s_index, (split, count) in enumerate(per_split.items()):
        audio_dir = root / f"nsynth-{split}" / "audio"
        audio_dir.mkdir(parents=True, exist_ok=True)
        examples = {}
        for i in range(count):
            family = TOY_FAMILIES[i % len(TOY_FAMILIES)]
            pitch = TOY_PITCHES[(i // len(TOY_FAMILIES)) % len(TOY_PITCHES)]
            inst = f"{nsynth.FAMILIES[family]}_synthetic_{s_index:03d}"
            key = f"{inst}-{pitch:03d}-100"
            audio = toy_tone(pitch, family) + 0.01 * rng.standard_normal(64000).astype(np.float32)
            sf.write(audio_dir / f"{key}.wav", np.clip(audio, -1, 1), 16000, subtype="PCM_16")
            examples[key] = {"note": i, "note_str": key, "instrument": s_index, "instrument_str": inst,
                             "pitch": pitch, "velocity": 100, "sample_rate": 16000, "qualities": [0] * 10,
                             "qualities_str": [], "instrument_family": family,
                             "instrument_family_str": nsynth.FAMILIES[family], "instrument_source": 2,
                             "instrument_source_str": "synthetic"}
        (root / f"nsynth-{split}" / "examples.json").write_text(json.dumps(examples))
    return root
