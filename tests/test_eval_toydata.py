"""The toy NSynth-layout data set of the evaluation tests (`toy_nsynth.write_toy_nsynth`) loads with the reader."""
from __future__ import annotations

import numpy as np

from eval_harness import nsynth
from toy_nsynth import TOY_FAMILIES, write_toy_nsynth


def test_toy_data_loads_with_the_nsynth_reader(tmp_path):
    root = write_toy_nsynth(tmp_path / "toy", {"train": 6, "valid": 3, "test": 3})
    splits = nsynth.load_splits(root)
    assert [len(splits[s]) for s in nsynth.SPLITS] == [6, 3, 3]
    audio = nsynth.load_audio_batch(splits["train"].notes[:2])
    assert audio.shape == (2, 64000) and audio.dtype == np.float32
    assert set(nsynth.labels(splits["train"].notes, "instrument")) == set(TOY_FAMILIES)
