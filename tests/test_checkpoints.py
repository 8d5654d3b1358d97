"""Every model source of load_checkpoint, on tiny random-init models in temporary directories."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import Wav2Vec2ForCTC, Wav2Vec2ForPreTraining, Wav2Vec2Model

from hear_w2v_music import checkpoints, configs, load_model
from hear_w2v_music.checkpoints import load_checkpoint


class NotPlainData:
    """A pickled object that torch.load(weights_only=True) refuses."""


def _assert_same_backbone(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _write_sums(folder: Path) -> None:
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(folder.iterdir())
             if p.name != "SHA256SUMS"]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


@pytest.fixture
def weights_dir(tmp_path, monkeypatch, tiny_hf_dir):
    """A bundled-weights folder with a valid music-small (a copy of the tiny HF dir)."""
    root = tmp_path / "weights"
    shutil.copytree(tiny_hf_dir, root / "music-small")
    _write_sums(root / "music-small")
    monkeypatch.setattr(checkpoints, "WEIGHTS_DIR", root)
    return root


def test_hf_dir_for_pretraining(tiny_hf_dir):
    ckpt = load_checkpoint(str(tiny_hf_dir))
    assert isinstance(ckpt.model, Wav2Vec2ForPreTraining) and not ckpt.model.training
    assert ckpt.kind == "hf" and ckpt.source == str(tiny_hf_dir) and ckpt.normalize is True
    assert ckpt.heads == {"quantizer", "project_q", "project_hid"}
    _assert_same_backbone(ckpt.model, Wav2Vec2ForPreTraining.from_pretrained(tiny_hf_dir))


def test_hf_dir_bare_model(tmp_path, tiny_config):
    torch.manual_seed(1)
    bare = Wav2Vec2Model(tiny_config).eval()
    bare.save_pretrained(tmp_path)
    ckpt = load_checkpoint(str(tmp_path))
    assert ckpt.heads == frozenset() and ckpt.normalize is False  # no preprocessor_config.json
    _assert_same_backbone(ckpt.model.wav2vec2, bare)


def test_hf_dir_ctc(tmp_path, tiny_config):
    torch.manual_seed(2)
    ctc = Wav2Vec2ForCTC(configs.tiny(vocab_size=12)).eval()
    ctc.save_pretrained(tmp_path)
    ckpt = load_checkpoint(str(tmp_path))
    assert ckpt.heads == {"lm_head"}
    _assert_same_backbone(ckpt.model.wav2vec2, ctc.wav2vec2)
    assert torch.equal(ckpt.model.lm_head.weight, ctc.lm_head.weight)


def test_hf_dir_with_legacy_weight_norm_keys(tmp_path, tiny_hf_dir):
    state = load_file(str(tiny_hf_dir / "model.safetensors"))
    legacy = {k.replace("parametrizations.weight.original0", "weight_g")
               .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    assert any(k.endswith("weight_g") for k in legacy)
    shutil.copy(tiny_hf_dir / "config.json", tmp_path / "config.json")
    save_file(legacy, str(tmp_path / "model.safetensors"))
    _assert_same_backbone(load_checkpoint(str(tmp_path)).model, load_checkpoint(str(tiny_hf_dir)).model)


def test_default_and_bundled_names(weights_dir, tiny_hf_dir):
    default = load_checkpoint("")
    named = load_checkpoint("music-small")
    assert default.kind == named.kind == "bundled" and default.info["bundled_name"] == "music-small"
    assert default.normalize is True
    _assert_same_backbone(default.model, load_checkpoint(str(tiny_hf_dir)).model)
    assert load_model().sample_rate == 16000


def test_bundled_checksum_mismatch(weights_dir):
    target = weights_dir / "music-small" / "config.json"
    target.write_text(target.read_text().replace('"hidden_size": 32', '"hidden_size":  32'))
    with pytest.raises(ValueError, match="checksum mismatch.*config.json"):
        load_checkpoint("music-small")


def test_bundled_not_built_yet(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "WEIGHTS_DIR", tmp_path / "weights")
    with pytest.raises(FileNotFoundError, match="not built yet.*w2v-music pretrain.*w2v-music export"):
        load_checkpoint("")
    with pytest.raises(FileNotFoundError, match="'speech-small' is not built yet"):
        load_model("speech-small")


def _lightning_payload(model: Wav2Vec2ForPreTraining, normalize: bool) -> dict:
    return {"epoch": 3, "global_step": 42,
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()} | {"loss_scale": torch.ones(1)},
            "w2v_music": {"format_version": 1, "hf_config": model.config.to_dict(), "normalize": normalize,
                          "pretrain_config": {"preset": "tiny"}}}


def test_lightning_ckpt_and_run_dir(tmp_path, tiny_config):
    torch.manual_seed(3)
    model = Wav2Vec2ForPreTraining(tiny_config).eval()
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    torch.save(_lightning_payload(model, True), tmp_path / "run" / "checkpoints" / "last.ckpt")
    for src in (tmp_path / "run" / "checkpoints" / "last.ckpt", tmp_path / "run"):
        ckpt = load_checkpoint(str(src))
        assert ckpt.kind == "lightning" and ckpt.normalize is True and ckpt.info["global_step"] == 42
        assert ckpt.heads == {"quantizer", "project_q", "project_hid"}
        _assert_same_backbone(ckpt.model, model)


def test_lightning_pickled_objects_need_allow_pickle(tmp_path, tiny_config):
    payload = _lightning_payload(Wav2Vec2ForPreTraining(tiny_config), False)
    payload["hyper_parameters"] = {"obj": NotPlainData()}
    torch.save(payload, tmp_path / "x.ckpt")
    with pytest.raises(ValueError, match="weights_only=True.*allow_pickle=True"):
        load_checkpoint(str(tmp_path / "x.ckpt"))
    assert load_checkpoint(str(tmp_path / "x.ckpt"), allow_pickle=True).kind == "lightning"


def test_random_sizes_and_seeds(tiny_hf_dir):
    a, b, c = load_checkpoint("random:tiny"), load_checkpoint("random:tiny@0"), load_checkpoint("random:tiny@5")
    assert a.kind == "random" and a.heads == frozenset() and a.info["seed"] == 0
    _assert_same_backbone(a.model, b.model)
    assert not torch.equal(a.model.wav2vec2.feature_projection.projection.weight,
                           c.model.wav2vec2.feature_projection.projection.weight)
    base = load_checkpoint("random:base").config
    assert (base.hidden_size, base.num_hidden_layers, base.conv_dim[0]) == (768, 12, 512)
    rand_dir = load_checkpoint(f"random:{tiny_hf_dir}@1")
    assert rand_dir.normalize is True and rand_dir.config.to_dict() == load_checkpoint(str(tiny_hf_dir)).config.to_dict()
    assert not torch.equal(rand_dir.model.quantizer.codevectors, load_checkpoint(str(tiny_hf_dir)).model.quantizer.codevectors)


def test_random_does_not_touch_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_checkpoint("random:tiny@9")
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("make, error, match", [
    (lambda p: p / "missing.pt", FileNotFoundError, "no such file or directory"),
    (lambda p: p, ValueError, "neither config.json .* nor checkpoints/last.ckpt"),
    (lambda p: (p / "notes.pt").write_text("hello") and p / "notes.pt", ValueError, "not a torch checkpoint.*b'hell'"),
    (lambda p: torch.save(torch.zeros(3), p / "t.pt") or p / "t.pt", ValueError, "holds a Tensor"),
    (lambda p: torch.save({"weights": 1}, p / "d.pt") or p / "d.pt", ValueError, r"top-level keys are \['weights'\]"),
    (lambda p: torch.save({"state_dict": {}}, p / "l.ckpt") or p / "l.ckpt", ValueError, "without the 'w2v_music' key"),
])
def test_bad_sources(tmp_path, make, error, match):
    (tmp_path / "stray.txt").write_text("x")
    with pytest.raises(error, match=match):
        load_checkpoint(str(make(tmp_path)))


def test_bad_random_specs():
    with pytest.raises(ValueError, match="seed after '@' must be an integer"):
        load_checkpoint("random:tiny@x")
    with pytest.raises(FileNotFoundError, match="not a bundled name"):
        load_checkpoint("random:huge")


def test_weights_that_do_not_fit_the_config(tmp_path, tiny_hf_dir):
    shutil.copytree(tiny_hf_dir, tmp_path / "m")
    state = load_file(str(tmp_path / "m" / "model.safetensors"))
    del state["wav2vec2.encoder.layers.1.final_layer_norm.weight"]
    save_file(state, str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(ValueError, match="backbone weights are missing.*layers.1.final_layer_norm.weight"):
        load_checkpoint(str(tmp_path / "m"))
    config = json.loads((tiny_hf_dir / "config.json").read_text())
    config["intermediate_size"] = 48
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    shutil.copy(tiny_hf_dir / "model.safetensors", tmp_path / "m" / "model.safetensors")
    with pytest.raises(ValueError, match="has shape .* but the config implies"):
        load_checkpoint(str(tmp_path / "m"))


def test_truncated_safetensors_is_named(tmp_path, tiny_hf_dir):
    shutil.copytree(tiny_hf_dir, tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:weights.stat().st_size // 2])  # a copy cut short
    with pytest.raises(ValueError, match=f"{weights}.*truncated or corrupt safetensors"):
        load_checkpoint(str(tmp_path / "m"))
    weights.write_bytes(b"\x10\x00")  # cut inside the header length
    with pytest.raises(ValueError, match="truncated or corrupt safetensors"):
        load_model(str(tmp_path / "m"))
