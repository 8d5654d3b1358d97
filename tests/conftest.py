"""Shared fixtures: tiny random-init models and synthesized audio, all in temporary directories."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hear_w2v_music import configs

SR = 16000  # Hz


@pytest.fixture(scope="session")
def tiny_config():
    """A tiny `Wav2Vec2Config` with wav2vec 2.0's conv geometry (400-sample field, 320-sample hop)."""
    return configs.tiny()


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory, tiny_config) -> Path:
    """An HF model directory holding a random-init tiny `Wav2Vec2ForPreTraining` (seed 0)."""
    from transformers import Wav2Vec2ForPreTraining

    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(tiny_config).eval()
    out = tmp_path_factory.mktemp("tiny_hf")
    model.save_pretrained(out)
    (out / "preprocessor_config.json").write_text(json.dumps({
        "feature_extractor_type": "Wav2Vec2FeatureExtractor", "sampling_rate": SR,
        "do_normalize": True, "feature_size": 1, "padding_value": 0.0, "return_attention_mask": False,
    }))
    return out


def sine(freq_hz: float, seconds: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    """A float32 sine of `seconds` at `sr` Hz, shape (round(seconds * sr),)."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.fixture
def noise():
    """A factory of reproducible white noise in [-1, 1]: noise(n_sounds, n_samples, seed=0) -> float32 tensor."""
    def make(n_sounds: int, n_samples: int, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return (torch.rand(n_sounds, n_samples, generator=g) * 2 - 1).float()
    return make


@pytest.fixture
def one_thread():
    """One torch thread for the test: on a shared 2-core machine two threads spin against other processes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
