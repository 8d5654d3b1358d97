"""The HEAR 2021 contract of hear_w2v_music, as properties on tiny random-init models."""
from __future__ import annotations

import warnings

import pytest
import torch

import hear_w2v_music as hm
from hear_w2v_music import frames

SR = 16000


@pytest.fixture(scope="module")
def checkpoint():
    return hm.load_checkpoint("random:tiny")


@pytest.fixture(scope="module")
def model(checkpoint):
    return hm.Wav2Vec2Embedder(checkpoint)


def test_attributes(model, checkpoint):
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate == 16000
    assert model.scene_embedding_size == model.timestamp_embedding_size == checkpoint.config.hidden_size
    assert model.num_layers == checkpoint.config.num_hidden_layers == 2
    assert model.layer == 2  # default: the last transformer block
    assert model.backbone is checkpoint.model.wav2vec2


@pytest.mark.parametrize("seconds", [1.07, 1.98, 4.0])
def test_shapes_dtype_and_timestamps(model, noise, seconds):
    n = int(round(seconds * SR))
    emb, ts = hm.get_timestamp_embeddings(noise(2, n), model)
    t = (n - 400) // 320 + 1
    assert emb.shape == (2, t, model.timestamp_embedding_size) and emb.dtype == torch.float32
    assert ts.shape == (2, t) and ts.dtype == torch.float32
    expected = (200 + 320 * torch.arange(t, dtype=torch.float64)) / 16  # integer sample centres -> ms
    assert torch.equal(ts[0].double(), expected) and torch.equal(ts[0], ts[1])
    assert ts[0, 0] == 12.5 and torch.allclose(torch.diff(ts[0]), torch.tensor(20.0))
    assert ts[0, -1] <= n / SR * 1000  # the last centre is inside the audio (hear-validator error)
    assert n / SR * 1000 - ts[0, -1] <= 20 + 12.5  # and less than one hop + half a field before the end
    assert torch.isfinite(emb).all()


def test_frame_count_formula_at_boundaries():
    for n in (400, 719, 720, 721, 1039, 1040, 16000, 64000):
        assert frames.num_frames(n) == (n - 400) // 320 + 1
    assert frames.num_frames(399) == 1 and frames.num_frames(1) == 1
    with pytest.raises(ValueError):
        frames.num_frames(0)


def test_scene_embedding_is_time_mean(model, noise):
    audio = noise(3, 20000, seed=1)
    scene = hm.get_scene_embeddings(audio, model)
    emb, _ = hm.get_timestamp_embeddings(audio, model)
    assert scene.shape == (3, model.scene_embedding_size) and scene.dtype == torch.float32
    torch.testing.assert_close(scene, emb.mean(dim=1))


def test_deterministic(model, noise):
    audio = noise(2, 12000, seed=2)
    a, _ = hm.get_timestamp_embeddings(audio, model)
    b, _ = hm.get_timestamp_embeddings(audio.clone(), model)
    assert torch.equal(a, b)


def test_batch_invariance(model, noise):
    audio = noise(4, 24000, seed=3)
    batch, _ = hm.get_timestamp_embeddings(audio, model)
    for i in range(4):
        alone, _ = hm.get_timestamp_embeddings(audio[i:i + 1], model)
        assert (batch[i] - alone[0]).abs().max() <= 1e-5
    # A neighbour with a very different level must not leak into a clip either.
    loud = torch.cat([audio[:1], audio[1:2] * 0.001])
    mixed, _ = hm.get_timestamp_embeddings(loud, model)
    assert (mixed[0] - batch[0]).abs().max() <= 1e-5


def test_per_clip_normalisation(checkpoint, noise):
    model = hm.Wav2Vec2Embedder(checkpoint)
    assert checkpoint.normalize is False  # random:tiny keeps fairseq BASE's default
    audio = noise(1, 8000, seed=4)
    checkpoint.normalize = True
    try:
        a, _ = model(audio)
        b, _ = model(audio * 0.1 + 0.05)  # gain and offset are normalised away
    finally:
        checkpoint.normalize = False
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("layer", ["cnn", 0, 1, -1])
def test_layers_match_hf_hidden_states(checkpoint, noise, layer):
    audio = noise(2, 9000, seed=5)
    emb, _ = hm.Wav2Vec2Embedder(checkpoint, layer=layer)(audio)
    with torch.no_grad():
        out = checkpoint.model.wav2vec2(audio, output_hidden_states=True)
    ref = out.extract_features if layer == "cnn" else out.hidden_states[layer]
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=1e-5)


def test_layer_options(checkpoint):
    assert hm.Wav2Vec2Embedder(checkpoint, layer=-3).layer == 0
    assert hm.Wav2Vec2Embedder(checkpoint, layer="1").layer == 1
    cnn = hm.Wav2Vec2Embedder(checkpoint, layer="cnn")
    assert cnn.timestamp_embedding_size == checkpoint.config.conv_dim[-1]
    for bad in (3, -4, "last"):
        with pytest.raises(ValueError, match="layer"):
            hm.Wav2Vec2Embedder(checkpoint, layer=bad)
    with pytest.raises(TypeError):
        hm.Wav2Vec2Embedder(checkpoint, layer=1.5)
    with pytest.raises(ValueError, match="precision"):
        hm.Wav2Vec2Embedder(checkpoint, precision="fp16")


def test_load_model_options(tiny_hf_dir):
    model = hm.load_model(str(tiny_hf_dir), layer=1, precision="fp32", window_seconds=10, context_seconds=2)
    assert model.layer == 1 and model.window_frames == frames.num_frames(10 * SR) and model.context_frames == 100
    with pytest.raises(TypeError, match="unknown model option"):
        hm.load_model(str(tiny_hf_dir), batch_size=3)


@pytest.mark.parametrize("n", [1, 150, 199, 200, 399])
def test_short_clips_give_one_frame_inside_the_audio(model, noise, n):
    emb, ts = hm.get_timestamp_embeddings(noise(2, n), model)
    assert emb.shape == (2, 1, model.timestamp_embedding_size) and torch.isfinite(emb).all()
    assert ts[0, 0] == pytest.approx(n / 2 / SR * 1000) and ts[0, 0] <= n / SR * 1000


def test_short_clip_equals_zero_padded_clip(model, noise):
    audio = noise(1, 300)
    short, _ = model(audio)
    padded, _ = model(torch.nn.functional.pad(audio, (0, 100)))
    assert torch.equal(short, padded)


@pytest.mark.parametrize("layer", ["cnn", 0])
def test_chunking_is_exact_below_the_transformer(checkpoint, noise, layer):
    """CNN and layer 0 only see +-pos_kernel/2 frames, so windows with that much context are exact."""
    audio = noise(2, 10 * SR, seed=6)
    whole, ts_whole = hm.Wav2Vec2Embedder(checkpoint, layer=layer)(audio)
    chunked_model = hm.Wav2Vec2Embedder(checkpoint, layer=layer, window_seconds=3.0, context_seconds=0.5)
    assert len(frames.plan_windows(whole.shape[1], chunked_model.window_frames, chunked_model.context_frames)) > 1
    chunked, ts_chunked = chunked_model(audio)
    assert torch.equal(ts_whole, ts_chunked) and chunked.shape == whole.shape
    assert (chunked - whole).abs().max() <= 1e-5


def test_chunking_agreement_of_the_last_layer(checkpoint, noise):
    audio = noise(1, 10 * SR + 123, seed=7)
    whole, ts_whole = hm.Wav2Vec2Embedder(checkpoint)(audio)
    chunked, ts_chunked = hm.Wav2Vec2Embedder(checkpoint, window_seconds=4.0, context_seconds=1.0)(audio)
    assert torch.equal(ts_whole, ts_chunked) and chunked.shape == whole.shape == (1, 500, 32)
    cosine = torch.nn.functional.cosine_similarity(chunked, whole, dim=-1)
    assert cosine.min() >= 0.999  # the documented tolerance (docs/hear.md)


def test_clip_that_fits_is_not_chunked(checkpoint, noise):
    model = hm.Wav2Vec2Embedder(checkpoint, window_seconds=4.0, context_seconds=1.0)
    n = frames.frame_span(0, model.window_frames)[1]  # exactly one window of audio
    assert len(frames.plan_windows(frames.num_frames(n), model.window_frames, model.context_frames)) == 1
    emb, _ = model(noise(1, n))
    ref, _ = hm.Wav2Vec2Embedder(checkpoint)(noise(1, n))
    assert torch.equal(emb, ref)


def test_plan_windows_partitions_frames():
    for n in (1, 199, 200, 201, 1000, 1234):
        windows = frames.plan_windows(n, 200, 50)
        kept = [i for w in windows for i in range(w.keep_start, w.keep_stop)]
        assert kept == list(range(n))
        for w in windows:
            assert w.start <= w.keep_start < w.keep_stop <= w.stop <= n
            assert w.stop - w.start == min(n, 200)
            if n > 200:  # context on each side that has audio
                assert w.keep_start - w.start >= min(50, w.keep_start)
                assert w.stop - w.keep_stop >= min(50, n - w.keep_stop)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_bf16_close_to_fp32(checkpoint, noise):
    audio = noise(2, 16000, seed=8)
    ref, _ = hm.Wav2Vec2Embedder(hm.load_checkpoint("random:tiny"))(audio)
    emb, ts = hm.Wav2Vec2Embedder(hm.load_checkpoint("random:tiny"), precision="bf16")(audio)
    assert emb.dtype == torch.float32 and ts.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(emb, ref, dim=-1).min() >= 0.99


@pytest.mark.parametrize("audio, error, match", [
    (lambda: torch.zeros(16000), ValueError, "2-D"),
    (lambda: torch.zeros(1, 2, 16000), ValueError, "mono"),
    (lambda: torch.zeros(1, 1, 1, 16000), ValueError, "2-D"),
    (lambda: torch.zeros(2, 16000, dtype=torch.int16), TypeError, "floating point"),
    (lambda: torch.zeros(2, 16000, dtype=torch.int32), TypeError, "int16 / 32768"),
    (lambda: torch.zeros(2, 16000, dtype=torch.bool), TypeError, "floating point"),
    (lambda: torch.zeros(2, 16000, dtype=torch.complex64), TypeError, "floating point"),
    (lambda: torch.zeros(0, 16000), ValueError, "empty"),
    (lambda: torch.zeros(2, 0), ValueError, "empty"),
    (lambda: torch.tensor([[0.0, float("nan")] * 500]), ValueError, "NaN"),
    (lambda: torch.tensor([[0.0, float("inf")] * 500]), ValueError, "NaN or Inf"),
    (lambda: [[0.0] * 1000], TypeError, "torch.Tensor"),
    (lambda: torch.zeros(1, 1000, device="meta"), ValueError, "is on meta"),
])
def test_bad_inputs(model, audio, error, match):
    with pytest.raises(error, match=match):
        hm.get_timestamp_embeddings(audio(), model)


def test_float64_is_cast(model, noise):
    audio = noise(1, 8000)
    a, _ = hm.get_timestamp_embeddings(audio.double(), model)
    b, _ = hm.get_timestamp_embeddings(audio, model)
    assert a.dtype == torch.float32 and torch.equal(a, b)


def test_wrong_model_object(noise):
    with pytest.raises(TypeError, match="load_model"):
        hm.get_scene_embeddings(noise(1, 1000), torch.nn.Linear(2, 2))


def test_bf16_warns_on_cpu_without_native_bf16(noise, monkeypatch):
    import hear_w2v_music.embedder as embedder

    model = hm.Wav2Vec2Embedder(hm.load_checkpoint("random:tiny"), precision="bf16")
    monkeypatch.setattr(embedder, "native_bf16", lambda device: (False, "AVX2 only"))
    with pytest.warns(RuntimeWarning, match="emulated"):
        model(noise(1, 4000))
    monkeypatch.setattr(embedder, "native_bf16", lambda device: (True, "avx512_bf16"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(noise(1, 4000))


def test_audio_far_outside_the_range_warns_once(noise):
    model = hm.load_model("random:tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(noise(1, 4000) * 1.5)  # a little over full scale (resampling overshoot) is fine
    with pytest.warns(UserWarning, match=r"peaks at 1e\+06, far outside the expected range \[-1, 1\]"):
        model(noise(1, 4000) * 1e6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(noise(1, 4000) * 1e6)  # once per model, not once per batch
