"""make-nsynth: NSynth layout and fields, instrument-disjoint splits, pitch correctness, atomic output."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from eval_harness import nsynth
from pretrain.datagen import gm_families as gm
from pretrain.datagen import nsynth_render as synth
from pretrain.datagen.common import RenderSummary, default_soundfont

NOTE_STR = re.compile(r"^([a-z_]+)_(acoustic|electronic|synthetic)_(\d{3,})-(\d{3})-(\d{3})$")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, RenderSummary]:
    out = tmp_path_factory.mktemp("render") / "ns"
    return out, synth.render_nsynth(out, size="mini", workers=1, seed=0, max_notes=48, progress=False)


def test_layout_and_fields(rendered) -> None:
    out, summary = rendered
    notes = summary.details["notes"]
    assert sum(notes.values()) == 48 and all(notes[s] > 0 for s in nsynth.SPLITS)
    for split in nsynth.SPLITS:
        examples = json.loads((out / f"nsynth-{split}" / "examples.json").read_text())
        wavs = {p.stem for p in (out / f"nsynth-{split}" / "audio").glob("*.wav")}
        assert set(examples) == wavs and len(wavs) == summary.details["notes"][split]
        for key, e in examples.items():
            family, source, inst, pitch, velocity = NOTE_STR.match(key).groups()
            assert (e["instrument_family_str"], e["instrument_source_str"]) == (family, source)
            assert nsynth.FAMILIES[e["instrument_family"]] == family and nsynth.SOURCES[e["instrument_source"]] == source
            assert (e["instrument"], e["pitch"], e["velocity"]) == (int(inst), int(pitch), int(velocity))
            assert e["velocity"] in nsynth.VELOCITIES and e["qualities"] == [0] * 10 and e["sample_rate"] == 16000
            lo, hi = gm.FAMILY_PITCH_RANGE[family]
            assert lo <= e["pitch"] <= hi
        info = sf.info(str(out / f"nsynth-{split}" / "audio" / f"{key}.wav"))
        assert (info.samplerate, info.frames, info.channels, info.subtype) == (16000, 64000, 1, "PCM_16")
    assert json.loads((out / "render_summary.json").read_text())["notes"] == summary.details["notes"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_reader_round_trip(rendered) -> None:
    out, summary = rendered
    splits = nsynth.load_splits(out)  # also checks instrument disjointness
    assert {s: len(v) for s, v in splits.items()} == summary.details["notes"]
    assert not any(n.instrument_family_str == "synth_lead" for s in ("valid", "test") for n in splits[s].notes)
    audio = nsynth.load_audio_batch(splits["test"].notes)
    assert audio.shape == (summary.details["notes"]["test"], 64000)
    held, tail = np.abs(audio[:, :48000]).max(axis=1), np.abs(audio[:, -1600:]).max(axis=1)
    assert np.all(held > 0.005) and np.all(tail <= held)  # audible, and the release decays


def test_splits_instrument_disjoint_for_the_whole_plan() -> None:
    presets = synth.Renderer(default_soundfont()).presets()
    instruments = synth.plan_instruments(presets, synth.SIZES["full"], seed=3)
    split_of: dict[tuple[int, int], set[str]] = {}
    for inst in instruments:
        split_of.setdefault((inst.bank, inst.program), set()).add(inst.split)
    assert all(len(v) == 1 for v in split_of.values())  # a preset (and all its variants) in one split
    assert len({i.instrument_str for i in instruments}) == len(instruments) == 5 * len(split_of)
    for family in nsynth.FAMILIES:
        found = {i.split for i in instruments if i.family == family}
        assert found == ({"train"} if family == "synth_lead" else {"train", "valid", "test"}), family
    assert gm.assign_splits(presets, 3) == gm.assign_splits(presets, 3) != gm.assign_splits(presets, 4)


def test_gm_table() -> None:
    assert gm.gm_family(1) == ("keyboard", "acoustic") and gm.gm_family(39) == ("bass", "synthetic")
    assert gm.gm_family(74) == ("flute", "acoustic") and gm.gm_family(81)[0] == "synth_lead"
    assert gm.gm_family(48) is None and gm.gm_family(119) is None  # timpani, synth drum
    for lo, hi, family in ((33, 40, "bass"), (57, 64, "brass"), (25, 32, "guitar"), (9, 16, "mallet"),
                           (17, 24, "organ"), (65, 72, "reed"), (41, 47, "string"), (53, 55, "vocal")):
        assert all(gm.gm_family(p)[0] == family for p in range(lo, hi + 1))


def _yin_f0(x: np.ndarray, sr: int, fmin: float = 50.0, fmax: float = 2000.0, threshold: float = 0.15) -> float:
    """YIN f0 estimate (Hz) of a 1-D signal: first dip of the cumulative-mean-normalised difference."""
    w = 2048
    lags = np.arange(1, int(sr / fmin) + 1)
    d = np.array([np.sum((x[:w] - x[lag:lag + w]) ** 2) for lag in lags])
    cmnd = d * lags / np.maximum(np.cumsum(d), 1e-12)
    start = int(sr / fmax)
    below = np.nonzero(cmnd[start:] < threshold)[0]
    i = start + (below[0] if len(below) else int(np.argmin(cmnd[start:])))
    while i + 1 < len(cmnd) and cmnd[i + 1] < cmnd[i]:
        i += 1
    return sr / lags[i]


def test_rendered_pitch_is_right(tmp_path: Path) -> None:
    renderer = synth.Renderer(default_soundfont())
    cases = [(73, 69), (40, 57), (56, 60), (68, 64), (19, 48), (52, 72)]  # (0-based program, MIDI pitch)
    for program, pitch in cases:
        audio = renderer.render(0, program, pitch, 100)
        assert audio.shape == (64000,)
        f0 = _yin_f0(audio[8000:8000 + 6000].astype(np.float64), 16000)
        expected = 440.0 * 2 ** ((pitch - 69) / 12)
        assert abs(12 * np.log2(f0 / expected)) < 1.0, (program, pitch, f0, expected)


def test_rendered_dataset_pitches(rendered) -> None:
    out, _ = rendered
    harmonic = ("brass", "flute", "keyboard", "reed", "string")  # organs: 16' stops sound an octave down
    notes = [n for s in nsynth.SPLITS for n in nsynth.load_split(out, s).notes
             if n.instrument_family_str in harmonic and 45 <= n.pitch <= 84]
    assert len(notes) >= 4
    for note in notes[:8]:
        audio = nsynth.read_audio(note.path).astype(np.float64)
        f0 = _yin_f0(audio[8000:14000], 16000)
        assert abs(12 * np.log2(f0 / (440.0 * 2 ** ((note.pitch - 69) / 12)))) < 1.0, (note.note_str, f0)


def test_rendered_notes_are_deterministic(tmp_path: Path) -> None:
    a = synth.render_nsynth(tmp_path / "a", max_notes=12, workers=1, seed=5, progress=False)
    b = synth.render_nsynth(tmp_path / "b", max_notes=12, workers=2, seed=5, progress=False)  # same in parallel
    assert a.details["notes"] == b.details["notes"]
    ka = json.loads((tmp_path / "a" / "nsynth-test" / "examples.json").read_text())
    kb = json.loads((tmp_path / "b" / "nsynth-test" / "examples.json").read_text())
    assert ka == kb
    name = sorted(ka)[0] + ".wav"
    assert (tmp_path / "a" / "nsynth-test" / "audio" / name).read_bytes() == \
        (tmp_path / "b" / "nsynth-test" / "audio" / name).read_bytes()


def test_bad_soundfont_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"RIFF not a soundfont")
    with pytest.raises(ValueError, match="broken.sf2"):
        synth.render_nsynth(tmp_path / "out", soundfont=bad, max_notes=4, workers=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.sf2"]
    with pytest.raises(ValueError, match="expected an existing .sf2 or .sf3"):
        synth.render_nsynth(tmp_path / "out", soundfont=tmp_path / "none.sf2", max_notes=4, progress=False)
    with pytest.raises(ValueError, match="unknown size"):
        synth.render_nsynth(tmp_path / "out", size="huge", progress=False)
    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        synth.render_nsynth(tmp_path / "exists", max_notes=4, progress=False)


def test_variants_keep_shape_and_level() -> None:
    t = np.arange(64000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for variant in gm.VARIANTS:
        y = gm.apply_variant(x, variant, seed=1)
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.sqrt(np.mean(y ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=1e-3)
    assert gm.stratified_pitches(list(range(40, 80)), 4, np.random.default_rng(0))[0] < 50


def test_valid_and_test_get_a_quarter_of_each_family() -> None:
    presets = synth.Renderer(default_soundfont()).presets()
    counts = synth.instruments_per_family(synth.plan_instruments(presets, synth.SIZES["small"], seed=0))
    for family in nsynth.FAMILIES:
        total = sum(counts[s][family] for s in nsynth.SPLITS)
        assert counts["valid"][family] == counts["test"][family] == gm.eval_presets(total, family)
        assert counts["train"][family] >= total / 2
    assert counts["test"]["guitar"] == counts["test"]["string"] == 3 and counts["test"]["synth_lead"] == 0
    assert [gm.eval_presets(n, "bass") for n in (2, 3, 7, 8, 12)] == [0, 1, 1, 2, 3]


def test_two_soundfonts_combine_into_one_instrument_disjoint_set(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pretrain.datagen.cli import make_nsynth

    second = tmp_path / "second.sf2"
    second.write_bytes(default_soundfont().read_bytes())
    presets = synth.Renderer(second).presets()
    first = synth.plan_instruments(presets, synth.SIZES["mini"], seed=0)
    other = synth.plan_instruments(presets, synth.SIZES["mini"], seed=0, font=1, first_id=len(first))
    assert [i.instrument for i in first + other] == list(range(len(first) + len(other)))
    assert {i.font for i in other} == {1} and [i.split for i in first] != [i.split for i in other]
    out = tmp_path / "ns"
    result = CliRunner().invoke(make_nsynth, [str(out), "--soundfont", str(default_soundfont()),
                                              "--soundfont", str(second), "--max-notes", "16", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "instruments    train  valid   test" in result.output and "  total" in result.output
    splits = nsynth.load_splits(out)  # checks instrument disjointness across both soundfonts
    fonts = set()
    for split in nsynth.SPLITS:
        fonts |= {e["soundfont"] for e in json.loads((out / f"nsynth-{split}" / "examples.json").read_text()).values()}
    assert fonts == {"TimGM6mb.sf2", "second.sf2"} and sum(len(s) for s in splits.values()) == 16
    assert str(second) in json.loads((out / "render_summary.json").read_text())["soundfont"]
    with pytest.raises(ValueError, match="twice"):
        synth.render_nsynth(tmp_path / "dup", soundfont=[second, second], max_notes=4, progress=False)


def test_data_tools_import_without_torch() -> None:
    """Spawned render workers re-import their module: it must stay light (torch costs seconds and 300 MB each)."""
    import subprocess
    import sys

    code = ("import sys, pretrain.datagen.cli, pretrain.datagen.nsynth_render, pretrain.datagen.corpus, "
            "pretrain.datagen.speech, eval_harness.nsynth; print(sorted({'torch', 'transformers'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
