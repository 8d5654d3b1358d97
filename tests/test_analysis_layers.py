"""Layer features, clip loading, finetune-run loading, and the layer-wise PWCCA analysis end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from eval_harness.analysis import AnalysisError
from eval_harness.analysis.layers import audio_files, collect_layer_frames, layer_features, load_backbone, middle_clip
from eval_harness.analysis.similarity import analyze_pwcca


def _tone(freq_hz: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.3 * np.sin(2 * np.pi * freq_hz * t) + 0.05 * np.sin(2 * np.pi * 3.1 * freq_hz * t)).astype(np.float32)


@pytest.fixture(scope="module")
def musicnet_root(tmp_path_factory) -> Path:
    """A MusicNet-layout folder: 3 held-out 44.1 kHz recordings of 6 s in test_data/, one in train_data/."""
    root = tmp_path_factory.mktemp("musicnet")
    for sub in ("train_data", "test_data"):
        (root / sub).mkdir()
    for i, f0 in enumerate((196.0, 330.0, 523.0)):
        sf.write(root / "test_data" / f"{2000 + i}.wav", _tone(f0, 6.0, 44100), 44100, subtype="PCM_16")
    sf.write(root / "train_data" / "1000.wav", _tone(100.0, 6.0, 44100), 44100, subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def finetune_run(tmp_path_factory, tiny_hf_dir) -> Path:
    """A `w2v-music finetune --mode ft1` run directory whose backbone weights differ from its base model."""
    from eval_harness.finetune import Classifier
    from hear_w2v_music.checkpoints import load_checkpoint

    ckpt = load_checkpoint(str(tiny_hf_dir))
    classifier = Classifier(ckpt.model.wav2vec2, ckpt.normalize, 11)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in classifier.backbone.encoder.layers:  # blocks with large random weights: a different model
            for dense in (layer.feed_forward.intermediate_dense, layer.feed_forward.output_dense):
                dense.weight.copy_(torch.randn(dense.weight.shape, generator=generator))
    run = tmp_path_factory.mktemp("ft1_run")
    (run / "config.json").write_text(json.dumps({"task": "instrument", "mode": "ft1", "model": str(tiny_hf_dir),
                                                 "data": "unused"}))
    torch.save({"version": 1, "best_state": classifier.state_dict()}, run / "state.pt")
    return run


def test_layer_features_match_hf_hidden_states(tiny_hf_dir):
    from hear_w2v_music.checkpoints import load_checkpoint

    model = load_checkpoint(str(tiny_hf_dir)).model
    audio = torch.from_numpy(np.stack([_tone(220.0, 1.0, 16000), _tone(440.0, 1.0, 16000)]))
    cnn, layers = layer_features(model, audio, normalize=False)
    assert cnn.shape == (2, 49, 32) and len(layers) == 3 and all(h.shape == (2, 49, 32) for h in layers)
    with torch.no_grad():
        ref = model.wav2vec2(audio, output_hidden_states=True)
        ref_cnn = ref.extract_features  # "cnn" is HF's extract_features (after the feature layer norm)
    assert torch.allclose(cnn, ref_cnn) and torch.allclose(layers[-1], ref.last_hidden_state)


def test_collect_stacks_frames_of_clips_of_different_lengths(tiny_hf_dir):
    from hear_w2v_music.checkpoints import load_checkpoint

    model = load_checkpoint(str(tiny_hf_dir)).model
    cnn, layers = collect_layer_frames(model, [_tone(220.0, 1.0, 16000), _tone(330.0, 0.5, 16000)], normalize=True)
    assert cnn.shape == (49 + 24, 32) and layers[1].shape == (73, 32) and cnn.dtype == np.float32


def test_audio_files_uses_musicnet_test_data_and_spaces_subsets(musicnet_root, tmp_path):
    assert [p.name for p in audio_files(musicnet_root)] == ["2000.wav", "2001.wav", "2002.wav"]
    assert [p.name for p in audio_files(musicnet_root, max_files=2)] == ["2000.wav", "2002.wav"]
    with pytest.raises(AnalysisError, match="no audio files"):
        audio_files(tmp_path)
    with pytest.raises(AnalysisError, match="does not exist"):
        audio_files(tmp_path / "missing")


def test_middle_clip_resamples_and_takes_the_middle(tmp_path):
    rate = 44100
    ramp = np.linspace(-0.9, 0.9, 6 * rate).astype(np.float32)  # the value tells the position
    sf.write(tmp_path / "ramp.wav", np.stack([ramp, ramp], axis=1), rate, subtype="FLOAT")  # stereo
    clip = middle_clip(tmp_path / "ramp.wav", 4.0)
    assert clip.shape == (64000,) and clip.dtype == np.float32
    assert clip[32000] == pytest.approx(0.0, abs=0.01)  # centre of the file
    assert clip[8000] == pytest.approx(-0.9 + 1.8 * 1.5 / 6, abs=0.01)  # 1.5 s into the file
    short = middle_clip(tmp_path / "ramp.wav", 10.0)
    assert short.shape[0] == pytest.approx(6 * 16000, abs=2)  # shorter file: all of it


def test_load_backbone_from_a_finetune_run(finetune_run, tiny_hf_dir):
    model, normalize, name = load_backbone(str(finetune_run))
    base, _, base_name = load_backbone(str(tiny_hf_dir))
    assert name == f"{tiny_hf_dir.name} ft1 instrument" and base_name == str(tiny_hf_dir)
    changed = model.wav2vec2.encoder.layers[0].feed_forward.output_dense.weight
    assert not torch.allclose(changed, base.wav2vec2.encoder.layers[0].feed_forward.output_dense.weight)
    assert torch.equal(model.wav2vec2.feature_extractor.conv_layers[0].conv.weight,
                       base.wav2vec2.feature_extractor.conv_layers[0].conv.weight)


def test_fe_run_is_refused(tmp_path, tiny_hf_dir):
    (tmp_path / "config.json").write_text(json.dumps({"task": "pitch", "mode": "fe", "model": str(tiny_hf_dir)}))
    torch.save({"best_state": {}}, tmp_path / "state.pt")
    with pytest.raises(AnalysisError, match="FE run"):
        load_backbone(str(tmp_path))


def test_analyze_pwcca_end_to_end(tiny_hf_dir, finetune_run, musicnet_root, tmp_path):
    summary = analyze_pwcca([str(tiny_hf_dir), str(finetune_run)], musicnet_root, tmp_path / "pw")
    assert summary["files"] == 3 and summary["frames"] == 3 * 199
    curves = [info["pwcca"] for info in summary["models"].values()]
    assert all(len(c) == 3 and all(0.0 <= v <= 1.0 for v in c) for c in curves)
    assert curves[0][0] == pytest.approx(curves[1][0])  # layer 0 precedes the changed blocks
    assert abs(curves[0][2] - curves[1][2]) > 0.01
    rows = (tmp_path / "pw" / "pwcca.csv").read_text().splitlines()
    assert rows[0].startswith("model,source,layer,pwcca") and len(rows) == 1 + 2 * 3
    assert (tmp_path / "pw" / "pwcca.png").stat().st_size > 1000


def test_cli_pwcca(tiny_hf_dir, musicnet_root, tmp_path):
    from eval_harness.cli import main

    with pytest.warns(UserWarning, match="297 frames for 32 and 32 dimensions"):  # 2 s clips: too few frames
        result = CliRunner().invoke(main, ["analyze", "pwcca", "--models", str(tiny_hf_dir), "--audio",
                                           str(musicnet_root), "--seconds", "2", "--out", str(tmp_path / "pw")])
    assert result.exit_code == 0, result.output
    assert "3 clips, 297 frames" in result.output
    bad = CliRunner().invoke(main, ["analyze", "pwcca", "--models", str(tiny_hf_dir), "--audio",
                                    str(tmp_path / "nothing"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "does not exist" in bad.output
