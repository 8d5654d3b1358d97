"""The NSynth dataset format (Engel et al. 2017): its label vocabularies and clip geometry.

Defined here, at the floor of the renderer (`nsynth_render`), and read by `eval_harness.nsynth`
(the reader and its tasks). Layout of a dataset folder ROOT::

    ROOT/nsynth-{train,valid,test}/examples.json          a dict keyed by note_str
    ROOT/nsynth-{train,valid,test}/audio/<note_str>.wav  16-bit mono, 16 kHz, 64000 samples (4 s)
"""
from __future__ import annotations

from hear_w2v_music.frames import SAMPLE_RATE

FAMILIES: tuple[str, ...] = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
                             "synth_lead", "vocal")
SOURCES: tuple[str, ...] = ("acoustic", "electronic", "synthetic")
QUALITIES: tuple[str, ...] = ("bright", "dark", "distortion", "fast_decay", "long_release", "multiphonic",
                              "nonlinear_env", "percussive", "reverb", "tempo-synced")
SPLITS: tuple[str, ...] = ("train", "valid", "test")
VELOCITIES: tuple[int, ...] = (25, 50, 75, 100, 127)
PITCH_MIN = 9  # MIDI note number, lowest NSynth pitch
PITCH_MAX = 120  # MIDI note number, highest NSynth pitch
NUM_SAMPLES = 64000  # samples per note (4 s at SAMPLE_RATE = 16 kHz)
CLIP_SECONDS = NUM_SAMPLES / SAMPLE_RATE  # 4.0 s
