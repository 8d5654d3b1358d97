"""FE building blocks: layer choice, model identity, the embedding cache, the head trainer, log-mel."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2Model

from eval_harness import embedding_cache, featurizers, nsynth, probe
from eval_harness.logmel import LogMel, mel_filterbank
from hear_w2v_music import layers
from eval_harness.training import FitConfig
from toy_nsynth import write_toy_nsynth


@pytest.fixture(scope="module")
def tiny_encoder(tiny_config):
    torch.manual_seed(0)
    return featurizers.Encoder.from_backbone(Wav2Vec2Model(tiny_config), normalize=True, source="tiny-test")


@pytest.fixture(scope="module")
def toy_notes(tmp_path_factory):
    root = write_toy_nsynth(tmp_path_factory.mktemp("toy"), {"train": 6, "valid": 3, "test": 3})
    return nsynth.load_split(root, "train").notes


def test_resolve_layers():
    assert featurizers.resolve_layers("last", 4) == [4] and featurizers.resolve_layers(-1, 4) == [4]
    assert featurizers.resolve_layers("all", 2) == [0, 1, 2] and featurizers.resolve_layers("1", 2) == [1]
    with pytest.raises(ValueError, match="layers 0..2"):
        featurizers.resolve_layers(5, 2)
    assert featurizers.resolve_layers("weighted", 2) == [0, 1, 2]
    with pytest.raises(ValueError, match="integer, 'last', 'all' or 'weighted'"):
        featurizers.resolve_layers("top", 2)


def test_identity_follows_weights_and_config(tiny_config, tiny_encoder):
    torch.manual_seed(0)
    same = Wav2Vec2Model(tiny_config)
    assert featurizers.model_identity(same, {"normalize": True}) == tiny_encoder.identity
    assert featurizers.model_identity(same, {"normalize": False}) != tiny_encoder.identity
    with torch.no_grad():
        same.encoder.layers[0].attention.q_proj.weight[0, 0] += 1e-3
    assert featurizers.model_identity(same, {"normalize": True}) != tiny_encoder.identity


def test_features_are_time_means_of_hidden_states(tiny_encoder):
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 16000)).astype(np.float32)
    feats = tiny_encoder.features(audio, [0, 2])
    assert feats.shape == (2, 2, 32) and feats.dtype == np.float32
    with torch.no_grad():
        x = layers.normalize(torch.from_numpy(audio))
        last = tiny_encoder.backbone(x).last_hidden_state.mean(dim=1).numpy()
    np.testing.assert_allclose(feats[:, 1], last, atol=1e-5)
    one = tiny_encoder.features(audio[:1], [2])  # a clip's features do not depend on its batch neighbours
    np.testing.assert_allclose(one[0, 0], feats[0, 1], atol=1e-5)


def test_features_run_the_backbone_on_the_device_asked(tiny_config, monkeypatch):
    """FE on CUDA once fed CUDA inputs to CPU weights ("Input type ... and weight type ... should be the same")."""
    torch.manual_seed(0)
    enc = featurizers.Encoder.from_backbone(Wav2Vec2Model(tiny_config), normalize=True, source="tiny-test")
    moved, real_to = [], enc.backbone.to
    monkeypatch.setattr(enc.backbone, "to", lambda *a, **k: moved.append(a) or real_to(*a, **k))
    enc.features(np.zeros((1, 8000), np.float32), [1], device="cpu")
    assert moved and moved[0][0] == "cpu"


def test_cache_hit_skips_extraction(tmp_path, tiny_encoder, toy_notes, monkeypatch, caplog):
    cache = embedding_cache.EmbeddingCache(tmp_path / "cache")
    first = embedding_cache.cached_features(tiny_encoder, toy_notes, [0, 1, 2], cache, progress=False)
    assert (cache.misses, cache.hits) == (1, 0) and first.shape == (6, 3, 32)
    assert not list((tmp_path / "cache").glob(".*"))  # no temporary files left behind

    def fail(*args, **kwargs):
        raise AssertionError("extraction must not run on a cache hit")
    monkeypatch.setattr(embedding_cache, "extract", fail)
    with caplog.at_level("INFO"):
        again = embedding_cache.cached_features(tiny_encoder, toy_notes, [0, 1, 2], cache, progress=False)
        single = embedding_cache.cached_features(tiny_encoder, toy_notes, [2], cache, progress=False)  # served by all-layers
    assert cache.hits == 2 and "cache hit" in caplog.text
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(single[:, 0], first[:, 2])


def test_cache_misses_when_data_changes(tmp_path, tiny_encoder, toy_notes):
    cache = embedding_cache.EmbeddingCache(tmp_path / "cache")
    embedding_cache.cached_features(tiny_encoder, toy_notes[:3], [2], cache, progress=False)
    embedding_cache.cached_features(tiny_encoder, toy_notes[:4], [2], cache, progress=False)
    assert cache.misses == 2 and cache.hits == 0


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (rng.normal(size=(n, 8)) + 4 * np.eye(3, 8)[y]).astype(np.float32), y


def test_train_head_learns_and_resumes_to_the_same_result(tmp_path):
    (xt, yt), (xv, yv) = _blobs(60, 0), _blobs(30, 1)
    cfg = dict(patience=50, progress=False)
    whole, res = probe.train_head(xt, yt, xv, yv, 3, FitConfig(max_epochs=8, **cfg), batch_size=16, lr=0.05)
    assert (probe.head_predict(whole, xv) == yv).mean() > 0.9 and res.epochs_run == 8

    state = tmp_path / "state.pt"
    probe.train_head(xt, yt, xv, yv, 3, FitConfig(max_epochs=3, **cfg), batch_size=16, lr=0.05,
                     checkpoint=state)
    resumed, res2 = probe.train_head(xt, yt, xv, yv, 3, FitConfig(max_epochs=8, **cfg), batch_size=16,
                                     lr=0.05, checkpoint=state)
    assert res2.resumed_from_epoch == 3 and res2.best_epoch == res.best_epoch
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_standardised_head_uses_train_statistics():
    x = np.array([[10.0, 0.0], [12.0, 0.0], [14.0, 2.0]], np.float32)
    head, _ = probe.train_head(x, np.array([0, 1, 1]), x, np.array([0, 1, 1]), 2,
                               FitConfig(max_epochs=1, progress=False), standardize=True)
    np.testing.assert_allclose(head.mean.numpy(), x.mean(0), rtol=1e-6)
    np.testing.assert_allclose(head.std.numpy(), x.std(0), rtol=1e-6)


def test_mlp_probe_is_marbles_and_learns():
    head = probe.ProbeHead(8, 3, kind="mlp")
    assert [type(m).__name__ for m in head.hidden] == ["Linear", "ReLU", "Dropout"]
    assert head.hidden[0].out_features == 512 and head.hidden[2].p == 0.2 and head.linear.in_features == 512
    (xt, yt), (xv, yv) = _blobs(60, 0), _blobs(30, 1)
    mlp, _ = probe.train_head(xt, yt, xv, yv, 3, FitConfig(max_epochs=15, patience=50, progress=False), 16,
                              probe="mlp")
    assert (probe.head_predict(mlp, xv) == yv).mean() > 0.9
    with pytest.raises(ValueError, match="unknown probe"):
        probe.ProbeHead(8, 3, kind="svm")


def test_weighted_layers_learn_to_favour_the_informative_layer():
    rng = np.random.default_rng(0)
    (xt, yt), (xv, yv) = _blobs(90, 0), _blobs(45, 1)
    noise = lambda x: rng.normal(size=x.shape).astype(np.float32)  # noqa: E731
    stack = lambda x: np.stack([noise(x), x, noise(x)], axis=1)  # (n, 3 layers, dim): layer 1 holds the signal
    head, _ = probe.train_head(stack(xt), yt, stack(xv), yv, 3, FitConfig(max_epochs=40, patience=50,
                                                                           progress=False), 16, lr=0.05)
    weights = head.layer_weights().detach().numpy()
    assert weights.shape == (3,) and weights.sum() == pytest.approx(1.0, abs=1e-6)
    assert weights.argmax() == 1 and (probe.head_predict(head, stack(xv)) == yv).mean() > 0.8
    single, _ = probe.train_head(xt, yt, xv, yv, 3, FitConfig(max_epochs=1, progress=False))
    assert single.layer_weights() is None


def test_weighted_standardisation_is_per_layer():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(40, 2, 4)).astype(np.float32)
    head, _ = probe.train_head(x, np.arange(40) % 2, x, np.arange(40) % 2, 2, FitConfig(max_epochs=1, progress=False),
                               standardize=True)
    assert head.mean.shape == (2, 4)
    np.testing.assert_allclose(head.mean.numpy(), x.mean(0), rtol=1e-5)


def test_logmel_features_shape_and_pitch_sensitivity():
    fb = mel_filterbank(64, 512, 16000)
    assert fb.shape == (64, 257) and fb.max() <= 1.0 and (fb.sum(axis=1) > 0).all()
    t = np.arange(16000) / 16000
    tones = np.stack([np.sin(2 * np.pi * f * t) for f in (220.0, 1760.0)]).astype(np.float32)
    feats = LogMel().features(tones, [0])
    assert feats.shape == (2, 1, 128)
    assert feats[0, 0].argmax() < feats[1, 0].argmax()  # the higher tone peaks in a higher band
    with pytest.raises(ValueError, match="single layer"):
        LogMel().features(tones, [1])
