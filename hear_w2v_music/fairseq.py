"""fairseq wav2vec 2.0 checkpoints -> HF ``Wav2Vec2ForPreTraining`` (key mapping; fairseq is never imported).

A fairseq checkpoint is a dict with ``model`` (the state dict) and either ``cfg`` (a plain dict
since fairseq 0.10: ``cfg["model"]``, ``cfg["task"]``) or, in older files, ``args`` (an
``argparse.Namespace``). Finetuned checkpoints (``Wav2Vec2Ctc``) prefix the encoder with
``w2v_encoder.w2v_model.``, keep the pretraining hyperparameters in ``w2v_args`` and add the CTC
projection ``w2v_encoder.proj`` (-> ``lm_head``); they have no quantizer.
"""
from __future__ import annotations

import ast
import re
from typing import Any, Mapping

import torch
from transformers import Wav2Vec2Config

FINETUNED_PREFIX = "w2v_encoder.w2v_model."

# fairseq name (after the finetuned prefix is stripped) -> HF Wav2Vec2ForPreTraining name.
_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^feature_extractor\.conv_layers\.(\d+)\.0\.weight$", r"wav2vec2.feature_extractor.conv_layers.\1.conv.weight"),
    (r"^feature_extractor\.conv_layers\.(\d+)\.0\.bias$", r"wav2vec2.feature_extractor.conv_layers.\1.conv.bias"),
    # GroupNorm (extractor_mode=default, first layer only) sits at index 2, LayerNorm (layer_norm mode) at 2.1.
    (r"^feature_extractor\.conv_layers\.(\d+)\.2\.(weight|bias)$", r"wav2vec2.feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)$", r"wav2vec2.feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"^layer_norm\.(weight|bias)$", r"wav2vec2.feature_projection.layer_norm.\1"),
    (r"^post_extract_proj\.(weight|bias)$", r"wav2vec2.feature_projection.projection.\1"),
    (r"^mask_emb$", r"wav2vec2.masked_spec_embed"),
    (r"^encoder\.pos_conv\.0\.weight_g$", r"wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original0"),
    (r"^encoder\.pos_conv\.0\.weight_v$", r"wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
    (r"^encoder\.pos_conv\.0\.bias$", r"wav2vec2.encoder.pos_conv_embed.conv.bias"),
    (r"^encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)$",
     r"wav2vec2.encoder.layers.\1.attention.\2_proj.\3"),
    (r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)$", r"wav2vec2.encoder.layers.\1.layer_norm.\2"),
    (r"^encoder\.layers\.(\d+)\.fc1\.(weight|bias)$", r"wav2vec2.encoder.layers.\1.feed_forward.intermediate_dense.\2"),
    (r"^encoder\.layers\.(\d+)\.fc2\.(weight|bias)$", r"wav2vec2.encoder.layers.\1.feed_forward.output_dense.\2"),
    (r"^encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)$", r"wav2vec2.encoder.layers.\1.final_layer_norm.\2"),
    (r"^encoder\.layer_norm\.(weight|bias)$", r"wav2vec2.encoder.layer_norm.\1"),
    (r"^quantizer\.vars$", r"quantizer.codevectors"),
    (r"^quantizer\.weight_proj\.(weight|bias)$", r"quantizer.weight_proj.\1"),
    (r"^project_q\.(weight|bias)$", r"project_q.\1"),
    (r"^final_proj\.(weight|bias)$", r"project_hid.\1"),
    (r"^w2v_encoder\.proj\.(weight|bias)$", r"lm_head.\1"),
)
_COMPILED = tuple((re.compile(pattern), target) for pattern, target in _RENAMES)
# Keys fairseq keeps that have no HF counterpart and carry nothing needed for embeddings.
_IGNORED = re.compile(r"^(_float_tensor|encoder\.version|.*\.num_batches_tracked|target_glu.*)$")


def rename_key(key: str) -> str | None:
    """The HF name of fairseq state-dict key ``key`` (finetuned prefix allowed), or None if unknown."""
    if key.startswith(FINETUNED_PREFIX):
        key = key[len(FINETUNED_PREFIX):]
    for pattern, target in _COMPILED:
        if pattern.match(key):
            return pattern.sub(target, key)
    return None


def convert_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a fairseq wav2vec 2.0 state dict to ``Wav2Vec2ForPreTraining`` keys.

    Raises ``ValueError`` listing the keys it does not know (other than fairseq bookkeeping).
    """
    out, unknown = {}, []
    for key, value in state.items():
        new = rename_key(key)
        if new is not None:
            out[new] = value
        elif not _IGNORED.match(key):
            unknown.append(key)
    if unknown:
        raise ValueError(f"fairseq checkpoint has {len(unknown)} keys this converter does not know, e.g. "
                         f"{unknown[:5]}; only wav2vec 2.0 (pretraining or Wav2Vec2Ctc) checkpoints are supported")
    return out


def parse_conv_layers(spec: str) -> list[tuple[int, int, int]]:
    """Evaluate fairseq's ``conv_feature_layers`` string, e.g. ``"[(512,10,5)] + [(512,3,2)] * 4"``.

    Only list/tuple literals of integers with ``+`` and ``*`` are accepted (no ``eval``).
    Returns ``[(channels, kernel, stride), ...]``.
    """
    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(n) for n in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"unsupported syntax in conv_feature_layers: {ast.dump(node)[:80]}")

    layers = value(ast.parse(spec, mode="eval"))
    if not isinstance(layers, list) or not all(isinstance(t, tuple) and len(t) == 3 for t in layers):
        raise ValueError(f"conv_feature_layers must be a list of (dim, kernel, stride) tuples, got {spec!r}")
    return [tuple(int(x) for x in t) for t in layers]


def _as_dict(obj: Any) -> dict:
    """A plain dict from a cfg section: a dict, an ``argparse.Namespace``, or None."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "__dict__"):
        return dict(vars(obj))
    raise TypeError(f"unexpected fairseq config section of type {type(obj).__name__}")


def model_and_task_cfg(ckpt: Mapping[str, Any]) -> tuple[dict, dict]:
    """The pretraining model and task hyperparameters of a fairseq checkpoint, as plain dicts.

    Reads ``cfg`` (new style) or ``args`` (legacy); for finetuned checkpoints it descends into
    ``w2v_args``, which holds the hyperparameters of the wav2vec 2.0 model being finetuned.
    """
    if ckpt.get("cfg") is not None:
        cfg = _as_dict(ckpt["cfg"])
        model, task = _as_dict(cfg.get("model")), _as_dict(cfg.get("task"))
    elif ckpt.get("args") is not None:
        model = task = _as_dict(ckpt["args"])
    else:
        raise ValueError("fairseq checkpoint has neither 'cfg' nor 'args': cannot tell its architecture")
    w2v_args = model.get("w2v_args")
    if w2v_args is not None:
        inner = _as_dict(w2v_args)
        if "model" in inner:  # new style: w2v_args is a full cfg with model/task sections
            return _as_dict(inner["model"]), _as_dict(inner.get("task")) or task
        return inner, inner
    return model, task


def hf_config(model_cfg: Mapping[str, Any], state: Mapping[str, torch.Tensor] | None = None) -> Wav2Vec2Config:
    """A ``Wav2Vec2Config`` equivalent to fairseq's ``Wav2Vec2Config`` fields (fairseq defaults when absent)."""
    get = model_cfg.get
    layers = parse_conv_layers(get("conv_feature_layers") or "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2")
    if int(get("pos_conv_depth", 1) or 1) != 1:
        raise ValueError("fairseq pos_conv_depth > 1 (data2vec-style positional conv) is not supported")
    mode = get("extractor_mode", "default") or "default"
    if mode not in ("default", "layer_norm"):
        raise ValueError(f"fairseq extractor_mode {mode!r} is not supported (expected 'default' or 'layer_norm')")
    embed = int(get("encoder_embed_dim", 768))
    final_dim = int(get("final_dim", 0) or 0) or embed
    latent_dim = int(get("latent_dim", 0) or 0) or final_dim
    groups, num_vars = int(get("latent_groups", 2)), int(get("latent_vars", 320))
    vocab = 32
    if state is not None:
        proj = state.get("w2v_encoder.proj.weight")
        vocab = int(proj.shape[0]) if proj is not None else vocab
    return Wav2Vec2Config(
        conv_dim=[c for c, _, _ in layers], conv_kernel=[k for _, k, _ in layers],
        conv_stride=[s for _, _, s in layers], conv_bias=bool(get("conv_bias", False)),
        feat_extract_norm="group" if mode == "default" else "layer", feat_extract_activation="gelu",
        hidden_size=embed, num_hidden_layers=int(get("encoder_layers", 12)),
        num_attention_heads=int(get("encoder_attention_heads", 12)),
        intermediate_size=int(get("encoder_ffn_embed_dim", 3072)),
        hidden_act=get("activation_fn", "gelu") or "gelu",
        do_stable_layer_norm=bool(get("layer_norm_first", False)),
        num_conv_pos_embeddings=int(get("conv_pos", 128)), num_conv_pos_embedding_groups=int(get("conv_pos_groups", 16)),
        num_codevector_groups=groups, num_codevectors_per_group=num_vars, codevector_dim=latent_dim,
        proj_codevector_dim=final_dim, contrastive_logits_temperature=float(get("logit_temp", 0.1)),
        num_negatives=int(get("num_negatives", 100)), mask_time_prob=float(get("mask_prob", 0.65)),
        mask_time_length=int(get("mask_length", 10)), hidden_dropout=float(get("dropout", 0.1)),
        attention_dropout=float(get("attention_dropout", 0.1)),
        activation_dropout=float(get("activation_dropout", 0.0)),
        feat_proj_dropout=float(get("dropout_input", 0.0)), feat_quantizer_dropout=float(get("dropout_features", 0.0)),
        layerdrop=float(get("encoder_layerdrop", 0.0)), vocab_size=vocab,
    )


def add_identity_projection(state: dict[str, torch.Tensor], config: Wav2Vec2Config) -> None:
    """fairseq has no ``post_extract_proj`` when ``conv_dim[-1] == encoder_embed_dim``; HF always has one.

    Adds an identity projection (in place) in that case, so the HF model computes the same thing.
    """
    key = "wav2vec2.feature_projection.projection"
    if f"{key}.weight" not in state and config.conv_dim[-1] == config.hidden_size:
        state[f"{key}.weight"] = torch.eye(config.hidden_size)
        state[f"{key}.bias"] = torch.zeros(config.hidden_size)
