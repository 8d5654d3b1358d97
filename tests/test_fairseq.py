"""fairseq -> HF conversion against outputs of real fairseq code (fixtures: scripts/make_fairseq_fixture.py).

The checkpoints in tests/data/fairseq were written by fairseq 0.12 (fairseq-fixed 0.12.3.1) with its
own outputs for a fixed input; these tests need no fairseq.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

import hear_w2v_music as hm
from hear_w2v_music import fairseq
from hear_w2v_music.checkpoints import load_checkpoint

DATA = Path(__file__).parent / "data" / "fairseq"
ATOL = 2e-5


@pytest.fixture(scope="module")
def ref():
    return torch.load(DATA / "reference.pt", weights_only=True)


@pytest.mark.parametrize("name, normalize, stable", [
    ("pretrain_default", False, False), ("pretrain_layernorm", True, True), ("finetuned_ctc", False, False)])
def test_checkpoint_reproduces_fairseq(ref, name, normalize, stable):
    ckpt = load_checkpoint(str(DATA / f"{name}.pt"))
    expected = ref[name]
    assert ckpt.kind == "fairseq" and ckpt.normalize is normalize
    assert ckpt.config.do_stable_layer_norm is stable
    assert ckpt.config.feat_extract_norm == ("layer" if stable else "group")
    audio = ref["audio"]
    with torch.no_grad():
        out = ckpt.model.wav2vec2(audio, output_hidden_states=True)
    torch.testing.assert_close(out.extract_features, expected["features"], atol=ATOL, rtol=1e-4)
    for k, layer in enumerate(expected["layers"], start=1):
        torch.testing.assert_close(out.hidden_states[k], layer, atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(out.last_hidden_state, expected["x"], atol=ATOL, rtol=1e-4)
    # The HEAR path (its own forward, folded positional conv) gives the same layers.
    ckpt.normalize = False
    for layer in (1, -1):
        emb, _ = hm.Wav2Vec2Embedder(ckpt, layer=layer)(audio)
        torch.testing.assert_close(emb, expected["layers"][layer - 1 if layer > 0 else -1], atol=ATOL, rtol=1e-4)


@pytest.mark.parametrize("name", ["pretrain_default", "pretrain_layernorm"])
def test_pretraining_heads_are_kept(ref, name):
    ckpt = load_checkpoint(str(DATA / f"{name}.pt"))
    expected = ref[name]
    assert ckpt.heads == {"quantizer", "project_q", "project_hid"}
    model = ckpt.model
    with torch.no_grad():
        out = model.wav2vec2(ref["audio"])
        codevectors, _ = model.quantizer(out.extract_features)
        torch.testing.assert_close(model.project_q(codevectors), expected["project_q"], atol=ATOL, rtol=1e-4)
        torch.testing.assert_close(model.project_hid(out.last_hidden_state), expected["final_proj"], atol=ATOL, rtol=1e-4)
        # Same codebook entries chosen per group as fairseq's targets (argmax of the logits).
        logits = model.quantizer.weight_proj(out.extract_features)
        groups = model.config.num_codevector_groups
        chosen = logits.view(*logits.shape[:2], groups, -1).argmax(dim=-1)
        assert torch.equal(chosen, expected["targets"])


def test_finetuned_ctc_head(ref):
    ckpt = load_checkpoint(str(DATA / "finetuned_ctc.pt"))
    assert ckpt.heads == {"lm_head"} and ckpt.info["finetuned"] is True
    with torch.no_grad():
        logits = ckpt.model.lm_head(ckpt.model.wav2vec2(ref["audio"]).last_hidden_state)
    torch.testing.assert_close(logits, ref["finetuned_ctc"]["logits"], atol=ATOL, rtol=1e-4)


def test_legacy_args_checkpoint(tmp_path, ref):
    """Old fairseq files carry an argparse.Namespace `args` instead of `cfg`: still weights_only-loadable."""
    new = torch.load(DATA / "pretrain_default.pt", weights_only=True)
    args = argparse.Namespace(**new["cfg"]["model"], normalize=False)
    torch.save({"args": args, "model": new["model"]}, tmp_path / "legacy.pt")
    ckpt = load_checkpoint(str(tmp_path / "legacy.pt"))
    with torch.no_grad():
        out = ckpt.model.wav2vec2(ref["audio"])
    torch.testing.assert_close(out.last_hidden_state, ref["pretrain_default"]["x"], atol=ATOL, rtol=1e-4)


def test_key_table_of_reference_md():
    """Every mapping of the published key table (REFERENCE.md), including the finetuned prefix."""
    table = {
        "feature_extractor.conv_layers.3.0.weight": "wav2vec2.feature_extractor.conv_layers.3.conv.weight",
        "feature_extractor.conv_layers.0.2.weight": "wav2vec2.feature_extractor.conv_layers.0.layer_norm.weight",
        "feature_extractor.conv_layers.4.2.1.bias": "wav2vec2.feature_extractor.conv_layers.4.layer_norm.bias",
        "layer_norm.weight": "wav2vec2.feature_projection.layer_norm.weight",
        "post_extract_proj.bias": "wav2vec2.feature_projection.projection.bias",
        "mask_emb": "wav2vec2.masked_spec_embed",
        "encoder.pos_conv.0.weight_g": "wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original0",
        "encoder.pos_conv.0.weight_v": "wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original1",
        "encoder.pos_conv.0.bias": "wav2vec2.encoder.pos_conv_embed.conv.bias",
        "encoder.layers.11.self_attn.out_proj.weight": "wav2vec2.encoder.layers.11.attention.out_proj.weight",
        "encoder.layers.0.self_attn_layer_norm.bias": "wav2vec2.encoder.layers.0.layer_norm.bias",
        "encoder.layers.2.fc1.weight": "wav2vec2.encoder.layers.2.feed_forward.intermediate_dense.weight",
        "encoder.layers.2.fc2.bias": "wav2vec2.encoder.layers.2.feed_forward.output_dense.bias",
        "encoder.layers.5.final_layer_norm.weight": "wav2vec2.encoder.layers.5.final_layer_norm.weight",
        "encoder.layer_norm.weight": "wav2vec2.encoder.layer_norm.weight",
        "quantizer.vars": "quantizer.codevectors",
        "quantizer.weight_proj.weight": "quantizer.weight_proj.weight",
        "project_q.weight": "project_q.weight",
        "final_proj.bias": "project_hid.bias",
        "w2v_encoder.proj.weight": "lm_head.weight",
        "w2v_encoder.w2v_model.encoder.layers.1.fc1.bias": "wav2vec2.encoder.layers.1.feed_forward.intermediate_dense.bias",
    }
    for key, expected in table.items():
        assert fairseq.rename_key(key) == expected, key
    assert fairseq.rename_key("decoder.embed_tokens.weight") is None
    with pytest.raises(ValueError, match="does not know.*decoder.embed_tokens"):
        fairseq.convert_state_dict({"decoder.embed_tokens.weight": torch.zeros(1)})


def test_conv_layer_spec_parser():
    assert fairseq.parse_conv_layers("[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2") == \
        [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
    with pytest.raises(ValueError, match="unsupported syntax"):
        fairseq.parse_conv_layers("__import__('os').system('true')")
