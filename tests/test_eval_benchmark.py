"""The main job on a toy NSynth set: records, report files, skipped models, the analysis hook."""
from __future__ import annotations

import json
import sys

import pytest

from eval_harness.benchmark import BenchmarkConfig, run_benchmark, slug
from toy_nsynth import write_toy_nsynth


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_nsynth(tmp_path_factory.mktemp("toy"))


def test_benchmark_writes_records_and_table(tmp_path, toy):
    cfg = BenchmarkConfig(data=toy, models=["random:tiny", "logmel", "no-such-model"], out=tmp_path / "bench",
                          cache_dir=tmp_path / "cache", max_epochs=3, progress=False)
    result = run_benchmark(cfg)
    assert [(r["model"], r["task"]) for r in result.records] == [
        ("random:tiny", "pitch"), ("random:tiny", "instrument"), ("logmel", "pitch"), ("logmel", "instrument")]
    assert result.records[1]["cache_hits"] == 3  # embeddings extracted once per model, reused by the second task
    assert len(result.skipped) == 1 and result.skipped[0].startswith("no-such-model:")
    saved = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert saved["records"] == result.records and saved["meta"]["skipped"] == result.skipped
    for rec in saved["records"]:
        assert {"accuracy", "macro_f1", "command", "seed", "n_train", "n_test", "data"} <= set(rec)
        assert ("chroma_accuracy" in rec) == (rec["task"] == "pitch")
    md = (tmp_path / "bench" / "results.md").read_text()
    assert "| random init (tiny) | FE |" in md and "| log-mel (non-learned) | FE |" in md
    assert "reported in the paper" in md and "skipped: no-such-model" in md


def test_logmel_is_fe_only_and_modes_are_checked(tmp_path, toy):
    result = run_benchmark(BenchmarkConfig(data=toy, models=["logmel"], modes=["ft1"], out=tmp_path / "b",
                                           progress=False))
    assert result.records == [] and "no network to fine-tune" in result.skipped[0]
    with pytest.raises(ValueError, match="unknown mode"):
        BenchmarkConfig(modes=["fe", "ft9"])


def test_the_time_budget_reaches_ft_runs_only(tmp_path, toy, one_thread):
    """--max-minutes bounds each FT run (marked stopped_by time) and leaves the FE runs alone."""
    cfg = BenchmarkConfig(data=toy, models=["random:tiny"], modes=["fe", "ft1"], tasks=["instrument"],
                          out=tmp_path / "b", cache_dir=tmp_path / "cache", max_epochs=3, max_minutes=1e-6,
                          progress=False)
    fe, ft = run_benchmark(cfg).records
    assert (fe["mode"], ft["mode"]) == ("fe", "ft1")
    assert "stopped_by" not in fe and fe["epochs_run"] >= 1
    assert ft["stopped_by"] == "time" and ft["epochs_run"] == 1
    with pytest.raises(ValueError, match="max_minutes must be positive"):
        BenchmarkConfig(max_minutes=0)


def test_missing_analysis_module_is_a_clear_error(tmp_path, toy, monkeypatch):
    monkeypatch.setitem(sys.modules, "eval_harness.analysis.section", None)
    cfg = BenchmarkConfig(data=toy, models=["logmel", "random:tiny"], tasks=["instrument"], out=tmp_path / "b",
                          cache_dir=tmp_path / "cache", max_epochs=1, with_analysis=True, progress=False)
    with pytest.raises(RuntimeError, match="--with-analysis needs eval_harness.analysis.section.run_analyses"):
        run_benchmark(cfg)


def test_slug():
    assert slug("random:music-small") == "random_music-small"
    assert slug("/a/b/wav2vec_small.pt") == "a_b_wav2vec_small.pt"


def test_benchmark_reports_intervals_differences_and_layer_curves(tmp_path, toy, tiny_hf_dir, one_thread):
    cfg = BenchmarkConfig(data=toy, models=[str(tiny_hf_dir), "random:tiny"], tasks=["instrument", "pitch88"],
                          layer="all", out=tmp_path / "bench", cache_dir=tmp_path / "cache", max_epochs=2,
                          n_boot=200, progress=False)
    result = run_benchmark(cfg)
    assert (tmp_path / "bench" / "runs" / "random_tiny" / "instrument-fe-layerall" / "result.json").is_file()
    saved = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert saved["version"] == 2 and len(saved["records"]) == 4
    assert all(r["ci_low"] <= r["accuracy"] <= r["ci_high"] and "predictions" in r for r in saved["records"])
    assert [(c["task"], c["reference"], c["kind"]) for c in saved["comparisons"]] == [
        ("instrument", "random:tiny", "random init"), ("pitch88", "random:tiny", "random init")]
    assert {"diff", "ci_low", "ci_high", "significant"} <= set(saved["comparisons"][0])
    md = result.markdown
    assert "Paired bootstrap (200 resamples" in md and "differences are significant" in md
    assert "reported by HEAR" in md and "Pitch88 (HEAR range) acc. [95 % CI]" in md
    for name in ("accuracy.png", "layers-instrument.png", "layers-pitch88.png"):
        assert f"]({name})" in md and (tmp_path / "bench" / name).stat().st_size > 1000
    assert "--layer all" in saved["meta"]["command"] and "--tasks instrument,pitch88" in saved["meta"]["command"]
