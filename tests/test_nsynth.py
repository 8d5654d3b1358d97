"""NSynth reader: fields, labels, subsets, and an error naming the file for each kind of bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval_harness import nsynth
from pretrain.fileio import AudioFileError, read_wav, write_wav

SR = nsynth.SAMPLE_RATE


def _entry(note_str: str, pitch: int, family: int, source: int, instrument: int, velocity: int = 100) -> dict:
    return {
        "note": instrument * 1000 + pitch, "note_str": note_str, "instrument": instrument,
        "instrument_str": note_str.split("-")[0], "pitch": pitch, "velocity": velocity, "sample_rate": SR,
        "qualities": [0] * 10, "qualities_str": [], "instrument_family": family,
        "instrument_family_str": nsynth.FAMILIES[family], "instrument_source": source,
        "instrument_source_str": nsynth.SOURCES[source],
    }


def make_fake_nsynth(root: Path, per_split: int = 6) -> Path:
    """An NSynth-layout folder of sines: instrument i of split s has family i % 11, pitches 40 + k."""
    t = np.arange(nsynth.NUM_SAMPLES) / SR
    for s, split in enumerate(nsynth.SPLITS):
        audio = root / f"nsynth-{split}" / "audio"
        audio.mkdir(parents=True)
        examples = {}
        for k in range(per_split):
            inst = 10 * s + k % 2
            family, source = inst % 11, inst % 3
            pitch = 40 + k
            name = f"{nsynth.FAMILIES[family]}_{nsynth.SOURCES[source]}_{inst:03d}-{pitch:03d}-100"
            examples[name] = _entry(name, pitch, family, source, inst)
            freq = 440.0 * 2 ** ((pitch - 69) / 12)
            write_wav(audio / f"{name}.wav", 0.3 * np.sin(2 * np.pi * freq * t), SR)
        (root / f"nsynth-{split}" / "examples.json").write_text(json.dumps(examples))
    return root


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    return make_fake_nsynth(tmp_path / "ns")


def test_round_trip_fields_labels_audio(fake: Path) -> None:
    split = nsynth.load_split(fake, "valid")
    examples = json.loads((fake / "nsynth-valid" / "examples.json").read_text())
    assert len(split) == 6 and [n.note_str for n in split.notes] == sorted(examples)
    for note in split.notes:
        entry = examples[note.note_str]
        assert note.to_json() == entry
        assert nsynth.TASKS["pitch"].label(note) == entry["pitch"] - 9
        assert nsynth.TASKS["instrument"].label(note) == entry["instrument_family"]
    audio = nsynth.read_audio(split.notes[0].path)
    assert audio.shape == (64000,) and audio.dtype == np.float32 and 0.25 < np.abs(audio).max() <= 0.31
    batch = nsynth.load_audio_batch(split.notes[:3])
    assert batch.shape == (3, 64000)
    np.testing.assert_array_equal(nsynth.labels(split.notes, "pitch"), [n.pitch - 9 for n in split.notes])
    assert split.hours == pytest.approx(6 * 4 / 3600)


def test_tasks_classes() -> None:
    pitch, inst = nsynth.TASKS["pitch"], nsynth.TASKS["instrument"]
    assert pitch.num_classes == 112 and pitch.label_names[0] == "9" and pitch.label_names[-1] == "120"
    assert inst.num_classes == 11 and inst.label_names[9] == "synth_lead"
    assert pitch.evaluation == ("pitch_acc", "chroma_acc") and inst.evaluation == ("top1_acc",)
    with pytest.raises(nsynth.NSynthError, match="unknown task"):
        nsynth.get_task("timbre")


def test_subsets_are_seeded(fake: Path) -> None:
    a = nsynth.load_split(fake, "train", max_examples=3, seed=1)
    b = nsynth.load_split(fake, "train", max_examples=3, seed=1)
    assert len(a) == 3 and a.notes == b.notes
    others = {tuple(n.note_str for n in nsynth.load_split(fake, "train", max_examples=3, seed=s).notes)
              for s in range(8)}
    assert len(others) > 1
    assert nsynth.budget_examples(5, "train") == 4000 and nsynth.budget_examples(5, "test") == 500
    assert len(nsynth.load_split(fake, "test", hours=0.004)) == 1  # 0.004 h * 1000 * 10 % = 0.4 -> at least 1


def test_splits_disjoint_check(fake: Path) -> None:
    splits = nsynth.load_splits(fake)
    assert sum(len(s) for s in splits.values()) == 18
    bad = dict(splits)
    bad["test"] = nsynth.NSynthSplit(fake, "test", splits["train"].notes[:1])
    with pytest.raises(nsynth.NSynthError, match="occurs in both"):
        nsynth.check_instrument_disjoint(bad)


def _first_wav(root: Path, split: str = "train") -> Path:
    return sorted((root / f"nsynth-{split}" / "audio").glob("*.wav"))[0]


@pytest.mark.parametrize("damage, message", [
    ("missing", "audio file is missing"),
    ("corrupt", "not a readable audio file"),
    ("rate", "sample rate is 8000 Hz, expected 16000 Hz"),
    ("length", "has 32000 samples, expected 64000"),
    ("stereo", "has 2 channels, expected 1"),
])
def test_bad_audio_is_named(fake: Path, damage: str, message: str) -> None:
    wav = _first_wav(fake)
    if damage == "missing":
        wav.unlink()
    elif damage == "corrupt":
        wav.write_bytes(b"RIFF garbage that is not a wav")
    elif damage == "rate":
        write_wav(wav, np.zeros(64000), 8000)
    elif damage == "length":
        write_wav(wav, np.zeros(32000), SR)
    else:
        write_wav(wav, np.zeros((64000, 2)), SR)
    with pytest.raises(nsynth.NSynthError) as err:
        nsynth.load_split(fake, "train")
    assert message in str(err.value) and wav.name in str(err.value) and "examples.json" in str(err.value)
    skipped = nsynth.load_split(fake, "train", skip_bad=True)
    assert len(skipped) == 5 and len(skipped.skipped) == 1 and skipped.skipped[0][0] == wav.stem
    with pytest.raises(AudioFileError, match=message.split(",")[0]):
        nsynth.read_audio(wav)


def test_bad_folders_and_json(tmp_path: Path, fake: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(nsynth.NSynthError, match="split folder is missing.*make-nsynth"):
        nsynth.load_split(empty, "train")
    with pytest.raises(nsynth.NSynthError, match="does not exist"):
        nsynth.load_split(tmp_path / "nowhere", "train")
    with pytest.raises(nsynth.NSynthError, match="unknown split"):
        nsynth.load_split(fake, "dev")
    examples = fake / "nsynth-test" / "examples.json"
    data = json.loads(examples.read_text())
    data["ghost_acoustic_099-060-100"] = _entry("ghost_acoustic_099-060-100", 60, 0, 0, 99)
    examples.write_text(json.dumps(data))
    with pytest.raises(nsynth.NSynthError, match="ghost_acoustic_099-060-100.wav: audio file is missing"):
        nsynth.load_split(fake, "test")
    assert len(nsynth.load_split(fake, "test", skip_bad=True).skipped) == 1
    data["ghost_acoustic_099-060-100"]["pitch"] = 130
    examples.write_text(json.dumps(data))
    with pytest.raises(nsynth.NSynthError, match="pitch 130, expected 9..120"):
        nsynth.load_split(fake, "test")
    examples.write_text("{not json")
    with pytest.raises(nsynth.NSynthError, match="not valid JSON"):
        nsynth.load_split(fake, "test")
    examples.write_text("{}")
    with pytest.raises(nsynth.NSynthError, match="lists no notes"):
        nsynth.load_split(fake, "test")


def test_all_bad_raises_even_with_skip(fake: Path) -> None:
    for wav in (fake / "nsynth-valid" / "audio").glob("*.wav"):
        wav.write_bytes(b"junk")
    with pytest.raises(nsynth.NSynthError, match="all 6 notes are bad"):
        nsynth.load_split(fake, "valid", skip_bad=True)


def test_read_wav_truncated_data(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    write_wav(path, np.zeros(64000), SR)
    path.write_bytes(path.read_bytes()[:1000])  # header claims 64000 samples, data ends early
    with pytest.raises(AudioFileError, match="cut.wav"):
        read_wav(path, SR, 64000)


def test_split_limits_take_one_number_or_one_per_split():
    from eval_harness.nsynth import NSynthError, split_limits

    assert split_limits(None) == {"train": None, "valid": None, "test": None}
    assert split_limits(200) == {"train": 200, "valid": 200, "test": 200}
    assert split_limits("2000,500,1000") == {"train": 2000, "valid": 500, "test": 1000}
    assert split_limits("0,5,5") == {"train": None, "valid": 5, "test": 5}
    for bad in ("1,2", "a,b,c", "-1"):
        with pytest.raises(NSynthError, match="TRAIN,VALID,TEST"):
            split_limits(bad)
