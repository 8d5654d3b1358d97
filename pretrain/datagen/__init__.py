"""Offline dataset generation: every renderer of the project and what they share.

- `nsynth_render` (``make-nsynth``): NSynth-format notes from GM soundfonts (tinysoundfont), with
  `gm_families` (GM program -> NSynth family, splits, timbre variants) and `nsynth_layout` (the
  NSynth format's vocabularies and clip geometry, also read by `eval_harness.nsynth`).
- `corpus` (``make-corpus``): a MusicNet-format classical corpus from music21's scores (`scores`).
- `speech` (``make-speech``): an English speech corpus synthesized with espeak-ng (``texts/``).
- `common`: `RenderSummary`, `default_soundfont`, the spawn-only worker pool, budgets and time limits.
- `cli`: the three commands.

Files and folders are written with `pretrain.fileio`. Nothing here imports torch, Lightning or
`eval_harness`.
"""
