"""precision="auto": bf16 where the machine computes it natively, decided from the CPU flags the OS reports."""
from __future__ import annotations

import pytest
import torch

import hear_w2v_music as hm
from hear_w2v_music import precision

# /proc/cpuinfo excerpts of two machines of the same kind (2-core AMD EPYC): one AVX2 only, one with AVX512-BF16.
AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma bmi2
"""
AVX512_BF16 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 fma
"""
AMX = "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: avx2 avx512f amx_bf16 amx_tile amx_int8\n"


@pytest.fixture
def cpuinfo(monkeypatch):
    """Make the machine report the given /proc/cpuinfo text."""
    def use(text: str) -> None:
        monkeypatch.setattr(precision, "_read_cpuinfo", lambda: text)
    return use


def test_flags_and_name_from_cpuinfo_text():
    assert "avx2" in precision.cpu_flags(AVX2) and "avx512_bf16" not in precision.cpu_flags(AVX2)
    assert precision.cpu_name(AVX512_BF16) == "AMD EPYC 9B14"
    assert precision.cpu_flags("") == frozenset() and precision.cpu_name("") == "unknown CPU"


@pytest.mark.parametrize("text, native, flag", [(AVX2, False, "neither avx512_bf16 nor amx_bf16"),
                                                (AVX512_BF16, True, "reports avx512_bf16"),
                                                (AMX, True, "reports amx_bf16")])
def test_native_bf16_from_cpu_flags(text, native, flag):
    found, reason = precision.native_bf16("cpu", text)
    assert found is native and flag in reason


def test_resolve_precision():
    assert precision.resolve_precision("auto", "cpu", AVX2)[0] == "fp32"
    chosen, reason = precision.resolve_precision("auto", "cpu", AVX512_BF16)
    assert chosen == "bf16" and "auto on cpu" in reason and "AMD EPYC 9B14" in reason
    assert precision.resolve_precision("bf16", "cpu", AVX2) == ("bf16", "bf16 as asked")
    assert precision.resolve_precision("fp32", "cpu", AMX)[0] == "fp32"
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        precision.resolve_precision("fp16")


def test_load_model_defaults_to_auto(cpuinfo, caplog):
    cpuinfo(AVX2)
    with caplog.at_level("INFO", logger="hear_w2v_music.embedder"):
        model = hm.load_model("random:tiny")
    assert model.precision == "fp32" and "neither avx512_bf16" in model.precision_reason
    assert "precision fp32" in caplog.text  # the choice and its reason are logged
    cpuinfo(AVX512_BF16)
    model = hm.load_model("random:tiny")
    assert model.precision == "bf16" and next(model.model.parameters()).dtype == torch.bfloat16


def test_finetune_config_stores_the_resolved_precision(cpuinfo):
    from eval_harness.finetune import FinetuneConfig
    from eval_harness.embedding_cache import EmbeddingCache

    cpuinfo(AVX2)
    here = FinetuneConfig(task="pitch", mode="fe", model="random:tiny", data="d", device="cpu")
    cpuinfo(AVX512_BF16)
    native = FinetuneConfig(task="pitch", mode="fe", model="random:tiny", data="d", device="cpu")
    assert (here.precision, native.precision) == ("fp32", "bf16")  # config.json and the FE cache key
    assert EmbeddingCache.key("m", [2], "d", here.precision) != EmbeddingCache.key("m", [2], "d", native.precision)
    with pytest.raises(ValueError, match="precision"):
        FinetuneConfig(task="pitch", mode="fe", model="random:tiny", data="d", precision="fp16")


def test_pretraining_auto_is_bf16_mixed_on_native_cpus(cpuinfo, tmp_path):
    pytest.importorskip("pytorch_lightning")
    from pretrain import config as config_lib
    from pretrain.train import build_trainer

    config = config_lib.resolve("tiny")
    cpuinfo(AVX2)
    assert build_trainer(config, tmp_path, accelerator="cpu", progress_bar=False).precision == "32-true"
    cpuinfo(AVX512_BF16)
    assert build_trainer(config, tmp_path, accelerator="cpu", progress_bar=False).precision == "bf16-mixed"
