"""Build tiny fairseq wav2vec 2.0 checkpoints and fairseq's own outputs, for tests/test_fairseq.py.

Runs in a side environment with real fairseq (never in the package's environment):

    python3 -m venv .venv-fairseq && .venv-fairseq/bin/pip install torch==2.13.0 hydra-core omegaconf \
        bitarray regex sacrebleu scipy scikit-learn "setuptools<81"
    .venv-fairseq/bin/pip download --no-deps --no-build-isolation fairseq-fixed -d .venv-fairseq/sdist
    tar -xzf .venv-fairseq/sdist/fairseq_fixed-*.tar.gz -C .venv-fairseq/src   # pure-Python import, no C build
    PYTHONPATH=.venv-fairseq/src/fairseq_fixed-0.12.3.1 .venv-fairseq/bin/python scripts/make_fairseq_fixture.py

Writes to tests/data/fairseq/: ``pretrain_default.pt`` (extractor_mode=default, post-LN),
``pretrain_layernorm.pt`` (extractor_mode=layer_norm, layer_norm_first, task.normalize=True),
``finetuned_ctc.pt`` (the default model as a Wav2Vec2Ctc checkpoint: ``w2v_encoder.w2v_model.``
prefix, pretraining heads removed, a CTC ``proj``), and ``reference.pt`` with the fixed input and,
per checkpoint, fairseq's CNN features (after its layer norm), every block's output, the final
output, and the quantizer path ``project_q(quantizer(features))`` / ``final_proj(x)``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Config, Wav2Vec2Model
from omegaconf import OmegaConf

TINY = dict(conv_feature_layers="[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2", encoder_layers=2,
            encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=2, conv_pos=16,
            conv_pos_groups=2, latent_vars=8, latent_groups=2, final_dim=16, latent_dim=0,
            quantize_targets=True)


def build(seed: int, **overrides) -> tuple[Wav2Vec2Model, dict]:
    torch.manual_seed(seed)
    cfg = OmegaConf.structured(Wav2Vec2Config(**TINY, **overrides))
    model = Wav2Vec2Model(cfg).eval()
    with torch.no_grad():  # make the norms' affine parameters non-trivial so the mapping is exercised
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model, OmegaConf.to_container(cfg, enum_to_str=True)


@torch.no_grad()
def reference(model: Wav2Vec2Model, audio: torch.Tensor, heads: bool) -> dict:
    res = model.extract_features(audio, padding_mask=None, mask=False)
    out = {"features": res["features"], "x": res["x"],
           "layers": [r[0].transpose(0, 1).contiguous() for r in res["layer_results"]]}
    if heads:
        q = model.quantizer(res["features"], produce_targets=True)
        out["targets"] = q["targets"]
        out["project_q"] = model.project_q(q["x"])
        out["final_proj"] = model.final_proj(res["x"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "data" / "fairseq")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    audio = torch.randn(2, 7000, generator=torch.Generator().manual_seed(0)) * 0.3
    refs = {"audio": audio}

    default, cfg_default = build(1, extractor_mode="default")
    torch.save({"cfg": {"model": cfg_default, "task": {"_name": "audio_pretraining", "normalize": False}},
                "model": default.state_dict()}, args.out / "pretrain_default.pt")
    refs["pretrain_default"] = reference(default, audio, heads=True)

    layer, cfg_layer = build(2, extractor_mode="layer_norm", layer_norm_first=True)
    torch.save({"cfg": {"model": cfg_layer, "task": {"_name": "audio_pretraining", "normalize": True}},
                "model": layer.state_dict()}, args.out / "pretrain_layernorm.pt")
    refs["pretrain_layernorm"] = reference(layer, audio, heads=True)

    default.remove_pretraining_modules()
    torch.manual_seed(3)
    proj = torch.nn.Linear(32, 10)
    state = {f"w2v_encoder.w2v_model.{k}": v for k, v in default.state_dict().items()}
    state.update({f"w2v_encoder.proj.{k}": v for k, v in proj.state_dict().items()})
    ctc_cfg = {"_name": "wav2vec_ctc", "w2v_path": "pretrain_default.pt",
               "w2v_args": {"model": cfg_default, "task": {"_name": "audio_pretraining", "normalize": False}}}
    torch.save({"cfg": {"model": ctc_cfg, "task": {"_name": "audio_finetuning", "normalize": False}},
                "model": state}, args.out / "finetuned_ctc.pt")
    ref = reference(default, audio, heads=False)
    ref["logits"] = proj(ref["x"])
    refs["finetuned_ctc"] = ref
    torch.save(refs, args.out / "reference.pt")
    for p in sorted(args.out.iterdir()):
        print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
