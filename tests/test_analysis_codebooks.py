"""Codebook co-occurrence: statistics, inference-time codes, the end-to-end analysis, `run_analyses`, the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from eval_harness.analysis import AnalysisError, cooccurrence
from eval_harness.analysis.codebooks import analyze_codebooks, extract_codes, quantizer_codes
from eval_harness.nsynth import FAMILIES

SR = 16000  # Hz
# (family index, MIDI pitch) of the synthetic test notes
NOTES = [(0, 36), (0, 40), (2, 72), (2, 76), (8, 60), (8, 67)]


def sine(freq_hz: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    """A float32 sine of `seconds` at 16 kHz, shape (round(seconds * 16000),)."""
    t = np.arange(int(round(seconds * SR))) / SR
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _note_str(family: int, pitch: int) -> str:
    return f"{FAMILIES[family]}_synthetic_000-{pitch:03d}-100"


@pytest.fixture(scope="module")
def nsynth_root(tmp_path_factory) -> Path:
    """A 6-note NSynth test split of decaying harmonic tones (4 s, 16 kHz) with NSynth's examples.json fields."""
    root = tmp_path_factory.mktemp("nsynth")
    audio = root / "nsynth-test" / "audio"
    audio.mkdir(parents=True)
    examples = {}
    env = np.exp(-np.arange(64000) / SR * 1.5).astype(np.float32)
    for i, (family, pitch) in enumerate(NOTES):
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        tone = sum(sine(f0 * h, 4.0, amp=0.3 / h) for h in range(1, 4 + family // 2)) * env
        key = _note_str(family, pitch)
        sf.write(audio / f"{key}.wav", tone, SR, subtype="PCM_16")
        examples[key] = {"note": i, "note_str": key, "instrument": family, "instrument_str": key[:-8],
                         "pitch": pitch, "velocity": 100, "sample_rate": SR, "qualities": [0] * 10,
                         "qualities_str": [], "instrument_family": family, "instrument_family_str": FAMILIES[family],
                         "instrument_source": 2, "instrument_source_str": "synthetic"}
    (root / "nsynth-test" / "examples.json").write_text(json.dumps(examples))
    return root


def test_count_sums_to_frames_and_places_each_frame():
    codes = np.array([0, 1, 1, 2, 2, 2])
    labels = np.array([0, 0, 1, 1, 1, 0])
    counts = cooccurrence.count(codes, labels, 4, 2)
    assert counts.sum() == 6
    assert counts.tolist() == [[1, 0], [1, 1], [1, 2], [0, 0]]
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 2\)"):
        cooccurrence.count(codes, labels, 2, 2)


def test_nmi_purity_perplexity_on_known_tables():
    perfect = np.diag([5, 5, 10])
    assert cooccurrence.nmi(perfect) == pytest.approx(1.0)
    assert cooccurrence.purity(perfect) == pytest.approx(1.0)
    independent = np.outer([1, 1], [3, 3, 3]) * 10
    assert cooccurrence.nmi(independent) == pytest.approx(0.0, abs=1e-12)
    assert cooccurrence.purity(independent) == pytest.approx(1 / 3)
    assert cooccurrence.perplexity(np.array([[4, 0], [4, 0], [0, 0]])) == pytest.approx(2.0)


def test_joint_codes_and_display_order():
    index, names = cooccurrence.joint_codes(np.array([[1, 2], [0, 5], [1, 2]]))
    assert names == ("0-5", "1-2") and index.tolist() == [1, 0, 1]
    counts = np.array([[0, 9], [0, 0], [3, 1], [5, 0]])
    assert cooccurrence.order_codes(counts).tolist() == [3, 2, 0]  # label 0 first (purest first), unused dropped


def test_codes_are_the_argmax_of_weight_proj_logits(tiny_hf_dir):
    from hear_w2v_music.checkpoints import load_checkpoint

    model = load_checkpoint(str(tiny_hf_dir)).model
    audio = torch.from_numpy(np.stack([sine(220.0, 1.0), sine(880.0, 1.0)]))
    codes = quantizer_codes(model, audio, normalize=False)
    assert codes.shape == (2, (16000 - 400) // 320 + 1, 2)
    with torch.no_grad():
        features = model.wav2vec2(audio).extract_features  # the quantizer's input in HF's pretraining forward
        logits = model.quantizer.weight_proj(features).view(2, -1, 2, model.config.num_codevectors_per_group)
    assert torch.equal(codes, logits.argmax(-1))
    assert torch.equal(codes, quantizer_codes(model, audio, normalize=False))  # deterministic: no Gumbel noise


def test_min_db_drops_silent_frames(tiny_hf_dir):
    from hear_w2v_music.checkpoints import load_checkpoint

    ckpt = load_checkpoint(str(tiny_hf_dir))
    clip = np.zeros((1, 16000), dtype=np.float32)
    clip[0, :8000] = sine(440.0, 0.5)
    every = extract_codes(ckpt, [clip])
    loud = extract_codes(ckpt, [clip], min_db=-60.0)
    assert every.codes.shape[0] == 49
    assert 20 < loud.codes.shape[0] < 30  # the first half plus the frames overlapping it


def test_analyze_codebooks_end_to_end(tiny_hf_dir, nsynth_root, tmp_path):
    summary = analyze_codebooks(str(tiny_hf_dir), nsynth_root, tmp_path / "cb")
    frames = len(NOTES) * 199  # 64000 samples -> 199 frames
    assert summary["frames"] == frames and summary["notes"] == len(NOTES)
    for label in ("instrument", "pitch"):
        for group in ("group0", "group1", "joint"):
            numbers = summary["results"][label][group]
            assert numbers["frames"] == frames
            assert 0.0 <= numbers["nmi"] <= 1.0 and 0.0 < numbers["purity"] <= 1.0
            assert 0.0 <= numbers["nmi_chance"] <= 1.0 and 0.0 < numbers["purity_chance"] <= 1.0
            assert 1.0 <= numbers["perplexity"] <= numbers["codes_used"] + 1e-9
            table = np.loadtxt(tmp_path / "cb" / f"cooccurrence_{label}_{group}.csv", delimiter=",", skiprows=1,
                               dtype=str, ndmin=2)
            assert table[:, -1].astype(int).sum() == frames
            assert (tmp_path / "cb" / f"codebook_{label}_{group}.png").stat().st_size > 1000
    assert summary["results"]["instrument"]["group0"]["labels_present"] == 3
    assert summary["results"]["pitch"]["group0"]["labels_present"] == 6
    assert json.loads((tmp_path / "cb" / "codebooks.json").read_text())["frames"] == frames


def test_model_without_quantizer_is_a_clear_error(nsynth_root, tmp_path):
    with pytest.raises(AnalysisError, match="no trained quantizer"):
        analyze_codebooks("random:tiny", nsynth_root, tmp_path / "cb")


def test_run_analyses_report(tiny_hf_dir, nsynth_root, tmp_path):
    from eval_harness.analysis.section import run_analyses

    out = run_analyses(str(tiny_hf_dir), nsynth_root, tmp_path / "an")
    assert "NMI" in out["markdown"] and "PWCCA" in out["markdown"]
    assert all(Path(f).is_file() for f in out["figures"])
    assert len(out["numbers"]["pwcca"]["models"][str(tiny_hf_dir)]["pwcca"]) == 3  # input + 2 blocks
    skipped = run_analyses("random:tiny", nsynth_root, tmp_path / "an2")
    assert "skipped" in skipped["numbers"]["codebooks"] and "Skipped" in skipped["markdown"]


def test_cli_codebooks(tiny_hf_dir, nsynth_root, tmp_path):
    from eval_harness.cli import main

    result = CliRunner().invoke(main, ["analyze", "codebooks", "--model", str(tiny_hf_dir), "--data",
                                       str(nsynth_root), "--max-notes", "3", "--joint-only", "--out",
                                       str(tmp_path / "cb")])
    assert result.exit_code == 0, result.output
    assert "3 notes, 597 frames" in result.output
    assert sorted(p.name for p in (tmp_path / "cb").glob("*.png")) == ["codebook_instrument_joint.png",
                                                                        "codebook_pitch_joint.png"]
    bad = CliRunner().invoke(main, ["analyze", "codebooks", "--model", "random:tiny", "--data", str(nsynth_root),
                                    "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "no trained quantizer" in bad.output
