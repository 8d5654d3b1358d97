"""`w2v-music embed` and `w2v-music info` through click's CliRunner, on tiny models and synthesized audio."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

import hear_w2v_music as hm
from eval_harness.cli import main
from pretrain.fileio import load_audio

from conftest import sine


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_embed_any_rate_and_channels(tmp_path, tiny_hf_dir):
    stereo = np.stack([sine(440, 1.5, sr=44100), sine(220, 1.5, sr=44100)], axis=1)
    sf.write(tmp_path / "stereo.flac", stereo, 44100)
    sf.write(tmp_path / "mono16k.wav", sine(330, 0.8), 16000, subtype="PCM_16")
    out = tmp_path / "out"
    result = _run("embed", str(tmp_path / "stereo.flac"), str(tmp_path / "mono16k.wav"),
                  "--model", str(tiny_hf_dir), "--out", str(out), "--layer", "1")
    assert result.exit_code == 0, result.output
    emb = np.load(out / "stereo.embeddings.npy")
    ts = np.load(out / "stereo.timestamps.npy")
    assert emb.shape == (74, 32) and emb.dtype == np.float32  # 1.5 s -> 24000 samples -> 74 frames
    np.testing.assert_array_equal(ts, 12.5 + 20 * np.arange(74))
    assert np.load(out / "mono16k.embeddings.npy").shape == (39, 32)
    assert not list(out.glob("*.tmp"))
    # Same numbers as the Python API on the resampled, mixed-down audio.
    model = hm.load_model(str(tiny_hf_dir), layer=1)
    audio = torch.from_numpy(load_audio(tmp_path / "stereo.flac"))[None]
    ref, _ = hm.get_timestamp_embeddings(audio, model)
    np.testing.assert_allclose(emb, ref[0].numpy(), atol=1e-6)


def test_load_audio_resamples_and_mixes(tmp_path):
    sf.write(tmp_path / "a.wav", np.stack([sine(440, 1.0, sr=22050)] * 2, axis=1), 22050)
    audio = load_audio(tmp_path / "a.wav")
    assert audio.dtype == np.float32 and abs(audio.size - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / audio.size - 440) < 2


def test_embed_skip_existing_and_clashing_stems(tmp_path):
    sf.write(tmp_path / "x.wav", sine(440, 0.5), 16000)
    (tmp_path / "sub").mkdir()
    sf.write(tmp_path / "sub" / "x.wav", sine(440, 0.5), 16000)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["embed", str(tmp_path / "x.wav"), str(tmp_path / "sub" / "x.wav"),
                                       "--model", "random:tiny", "--out", str(out)])
    assert result.exit_code != 0 and "share the stem 'x'" in result.output
    assert _run("embed", str(tmp_path / "x.wav"), "--model", "random:tiny", "--out", str(out)).exit_code == 0
    stamp = (out / "x.embeddings.npy").stat().st_mtime_ns
    result = _run("embed", str(tmp_path / "x.wav"), "--model", "random:tiny", "--out", str(out), "--skip-existing")
    assert result.exit_code == 0 and "frames" not in result.output
    assert (out / "x.embeddings.npy").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("args, message", [
    (["--model", "/no/such/model"], "no such file or directory"),
    (["--model", "random:tiny", "--layer", "7"], "out of range"),
    (["--model", "random:tiny", "--layer", "top"], "expected an integer or 'cnn'"),
])
def test_embed_errors(tmp_path, args, message):
    sf.write(tmp_path / "x.wav", sine(440, 0.5), 16000)
    result = CliRunner().invoke(main, ["embed", str(tmp_path / "x.wav"), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code != 0 and message in result.output


def test_embed_unreadable_audio(tmp_path):
    (tmp_path / "bad.wav").write_text("not audio")
    result = CliRunner().invoke(main, ["embed", str(tmp_path / "bad.wav"), "--model", "random:tiny",
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "cannot read audio" in result.output


def test_info_text_and_json(tiny_hf_dir):
    result = _run("info", str(tiny_hf_dir))
    assert result.exit_code == 0
    assert "[hf]" in result.output and "project_hid, project_q, quantizer" in result.output
    assert "normalize  True" in result.output and "2 layers x 32" in result.output
    summary = json.loads(_run("info", str(tiny_hf_dir), "--json").output)
    ckpt = hm.load_checkpoint(str(tiny_hf_dir))
    assert summary["parameters"]["total"] == sum(p.numel() for p in ckpt.model.parameters())
    assert summary["heads"] == ["project_hid", "project_q", "quantizer"] and summary["kind"] == "hf"


def test_info_missing_bundled(monkeypatch, tmp_path):
    from hear_w2v_music import checkpoints
    monkeypatch.setattr(checkpoints, "WEIGHTS_DIR", tmp_path)
    result = CliRunner().invoke(main, ["info", "music-small"])
    assert result.exit_code == 1 and "not built yet" in result.output


def test_embed_names_the_file_that_holds_nan(tmp_path):
    sf.write(tmp_path / "good.wav", sine(440, 0.5), 16000, subtype="FLOAT")
    bad = sine(440, 0.5)
    bad[4000] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 16000, subtype="FLOAT")
    result = CliRunner().invoke(main, ["embed", str(tmp_path / "good.wav"), str(tmp_path / "nan.wav"),
                                       "--model", "random:tiny", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert f"{tmp_path / 'nan.wav'} holds NaN or Inf samples" in result.output and "0.250 s" in result.output


def test_embed_precision_defaults_to_auto_and_says_why(tmp_path, monkeypatch):
    from hear_w2v_music import precision

    monkeypatch.setattr(precision, "_read_cpuinfo", lambda: "model name\t: Test CPU\nflags\t\t: avx2\n")
    sf.write(tmp_path / "x.wav", sine(440, 0.5), 16000)
    result = _run("embed", str(tmp_path / "x.wav"), "--model", "random:tiny", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0 and "precision fp32 (auto on cpu: the CPU (Test CPU) reports neither" in result.output


def test_info_on_truncated_safetensors(tmp_path, tiny_hf_dir):
    shutil.copytree(tiny_hf_dir, tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    result = CliRunner().invoke(main, ["info", str(tmp_path / "m")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{weights} is a truncated or corrupt safetensors file" in result.output
