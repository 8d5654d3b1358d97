"""make-corpus: tiny music21 scores -> MusicNet layout, labels aligned with audible audio; bad input."""
from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from pretrain import fileio
from pretrain.datagen import common, corpus, scores

SR = 44100  # Hz


def _write_score(path: Path, soprano: list[str], bass: list[str], repeat: bool = False) -> Path:
    """A two-part MusicXML score of quarter notes (names like "C5"), optionally inside repeat bars."""
    from music21 import bar, meter, note, stream, tempo

    score = stream.Score()
    for name, pitches in (("Soprano", soprano), ("Bass", bass)):
        part = stream.Part()
        part.partName = name
        measure = stream.Measure(number=1)
        measure.append(meter.TimeSignature("4/4"))
        if name == "Soprano":
            measure.insert(0, tempo.MetronomeMark(number=120))
        for pitch in pitches:
            measure.append(note.Note(pitch, quarterLength=1.0))
        if repeat:
            measure.leftBarline = bar.Repeat(direction="start")
            measure.rightBarline = bar.Repeat(direction="end")
        part.append(measure)
        score.insert(0, part)
    score.write("musicxml", fp=str(path))
    return path


@pytest.fixture(scope="module")
def tiny_refs(tmp_path_factory) -> list[scores.ScoreRef]:
    """Two four-beat scores (about 2 s each at 120 bpm); the second one repeats once."""
    root = tmp_path_factory.mktemp("scores")
    first = _write_score(root / "a.musicxml", ["C5", "D5", "E5", "F5"], ["C3", "G2", "C3", "F2"])
    second = _write_score(root / "b.musicxml", ["G4", "A4", "B4", "C5"], ["G2", "F2", "E2", "C2"], repeat=True)
    return [scores.ScoreRef(1, str(first), "test"), scores.ScoreRef(2, str(second), "test")]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, tiny_refs) -> tuple[Path, common.RenderSummary]:
    out = tmp_path_factory.mktemp("render") / "corpus"
    summary = corpus.render_corpus(out, hours=1.0, workers=1, seed=3, score_refs=tiny_refs, progress=False)
    return out, summary


def _read_labels(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_layout_and_summary(rendered):
    out, summary = rendered
    assert summary.files == 2 and summary.skipped == {}
    wavs = sorted(out.glob("*_data/*.wav"))
    assert len(wavs) == 2 and len(list((out / "test_data").glob("*.wav"))) == 1  # first of the order is held out
    for wav in wavs:
        split = wav.parent.name.replace("_data", "")
        assert (out / f"{split}_labels" / f"{wav.stem}.csv").is_file()
    assert not fileio.partial_dir(out).exists()
    assert not list(out.rglob(".*.tmp"))
    total = sum(sf.info(str(w)).duration for w in wavs)
    assert summary.audio_s == pytest.approx(total, abs=1e-3)
    with open(out / "musicnet_metadata.csv", newline="") as handle:
        assert sorted(int(r["id"]) for r in csv.DictReader(handle)) == [1, 2]


def test_audio_format_and_labels_inside_audible_audio(rendered):
    out, _ = rendered
    for wav in sorted(out.glob("*_data/*.wav")):
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
        audio, _ = sf.read(str(wav), dtype="float32")
        header, rows = _read_labels(out / wav.parent.name.replace("data", "labels") / f"{wav.stem}.csv")
        assert header == list(corpus.LABEL_COLUMNS)
        assert rows
        for row in rows:
            start, end = int(row["start_time"]), int(row["end_time"])
            assert 0 <= start < end <= len(audio)
            assert 1 <= int(row["instrument"]) <= 128 and 0 <= int(row["note"]) <= 127
            assert row["note_value"] == "Quarter" and float(row["end_beat"]) == 1.0
            # the note is sounding: its span is well above the noise floor
            assert np.sqrt(np.mean(audio[start:end] ** 2)) > 1e-3
        assert np.sqrt(np.mean(audio ** 2)) > 1e-2


def test_repeats_are_expanded(rendered):
    out, _ = rendered
    _, rows = _read_labels(next(out.glob("*_labels/2.csv")))
    beats = sorted(float(r["start_beat"]) for r in rows)
    assert max(beats) == 7.0 and len(rows) == 16  # 4 beats x 2 parts, played twice


def test_pitch_of_a_rendered_note(tmp_path):
    """A4 on one part renders with its spectral peak at 440 Hz (any GM timbre, fundamental or octave)."""
    notes = [scores.PlayedNote(part=0, program=73, pitch=69, velocity=100, start_beat=0.0, beats=4.0,
                               note_value="Whole", onset_s=0.0, offset_s=1.0)]
    audio = corpus.synthesize(notes, common.default_soundfont())
    segment = audio[int(0.2 * SR): int(0.9 * SR)]
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
    peak_hz = np.argmax(spectrum) * SR / len(segment)
    assert min(abs(peak_hz - 440.0), abs(peak_hz - 880.0)) < 6.0


def test_note_value_names():
    from music21 import duration

    assert scores.note_value_name(duration.Duration(1.5)) == "Dotted Quarter"
    assert scores.note_value_name(duration.Duration(0.25)) == "Sixteenth"
    assert scores.note_value_name(duration.Duration(1 / 3)) == "Triplet Eighth"


def test_same_seed_same_performance_and_different_seed_differs(tiny_refs):
    score, expanded = scores.load_score(tiny_refs[0].path)
    first = scores.perform(score, expanded, np.random.default_rng(5))
    again = scores.perform(score, expanded, np.random.default_rng(5))
    assert first == again
    others = [scores.perform(score, expanded, np.random.default_rng(s)) for s in range(6, 12)]
    assert any(o.notes != first.notes for o in others)


def test_playing_order_interleaves_composers():
    refs = [scores.ScoreRef(i, f"p{i}", "big") for i in range(100)]
    refs += [scores.ScoreRef(100 + i, f"q{i}", "small") for i in range(4)]
    order = scores.playing_order(refs, seed=0)
    assert sorted(r.id for r in order) == list(range(104))
    assert sum(r.composer == "small" for r in order[:40]) >= 2  # not starved by the big composer


def test_budget_stops_after_enough_audio(tmp_path, tiny_refs):
    summary = corpus.render_corpus(tmp_path / "c", hours=0.0001, workers=1, score_refs=tiny_refs, progress=False)
    assert summary.files == 1 and len(list((tmp_path / "c").glob("*_data/*.wav"))) == 1


def test_resume_reuses_finished_pieces(tmp_path, tiny_refs):
    out = tmp_path / "c"
    work = fileio.open_partial_dir(out)
    first = corpus.render_piece((tiny_refs[0], "test"), work=work, soundfont=common.default_soundfont(), seed=0)
    wav = work / "test_data" / "1.wav"
    stamp = wav.stat().st_mtime_ns
    (work / "train_data").mkdir(exist_ok=True)
    (work / "train_data" / ".2.wav.tmp").write_bytes(b"half written")
    summary = corpus.render_corpus(out, hours=1.0, workers=1, score_refs=tiny_refs, progress=False)
    assert summary.files == 2 and (out / "test_data" / "1.wav").stat().st_mtime_ns == stamp
    assert first.seconds > 0 and not list(out.rglob(".*.tmp"))


def test_unreadable_scores_are_skipped_and_counted(tmp_path, tiny_refs):
    bad = tmp_path / "bad.musicxml"
    bad.write_text("<score-partwise>not music")
    refs = [scores.ScoreRef(7, str(bad), "test"), tiny_refs[0]]
    summary = corpus.render_corpus(tmp_path / "c", hours=1.0, workers=1, score_refs=refs, progress=False)
    assert summary.files == 1 and sum(summary.skipped.values()) == 1
    with pytest.raises(RuntimeError, match="no score could be rendered"):
        corpus.render_corpus(tmp_path / "d", hours=1.0, workers=1, score_refs=refs[:1], progress=False)


def test_time_limit_interrupts_a_slow_job():
    with pytest.raises(common.JobTimeout):
        with common.time_limit(0.2):
            time.sleep(2)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"soundfont": "/nonexistent/font.sf2"}, FileNotFoundError, "soundfont not found"),
    ({"hours": 0.0}, ValueError, "positive number of hours"),
    ({"hours": -1.0}, ValueError, "positive number of hours"),
    ({"workers": 0}, ValueError, "at least 1"),
])
def test_bad_arguments(tmp_path, tiny_refs, kwargs, error, match):
    args = {"hours": 1.0, "workers": 1, "score_refs": tiny_refs, "progress": False, **kwargs}
    with pytest.raises(error, match=match):
        corpus.render_corpus(tmp_path / "c", **args)
    assert not (tmp_path / "c").exists()


def test_soundfont_with_wrong_suffix(tmp_path, tiny_refs):
    font = tmp_path / "font.txt"
    font.write_text("x")
    with pytest.raises(ValueError, match=r"\.sf2 or \.sf3"):
        corpus.render_corpus(tmp_path / "c", hours=1.0, soundfont=font, score_refs=tiny_refs, progress=False)


def test_non_empty_output_is_refused(tmp_path, tiny_refs):
    out = tmp_path / "c"
    out.mkdir()
    (out / "keep.txt").write_text("existing")
    with pytest.raises(FileExistsError, match="not empty"):
        corpus.render_corpus(out, hours=1.0, workers=1, score_refs=tiny_refs, progress=False)
    assert (out / "keep.txt").read_text() == "existing"


def test_cli_reports_bad_input(tmp_path):
    from pretrain.datagen.cli import make_corpus

    result = CliRunner().invoke(make_corpus, [str(tmp_path / "c"), "--hours", "1",
                                              "--soundfont", str(tmp_path / "missing.sf2")])
    assert result.exit_code == 2 and "soundfont not found" in result.output
    result = CliRunner().invoke(make_corpus, [str(tmp_path / "c"), "--hours", "0"])
    assert result.exit_code == 2 and "positive number of hours" in result.output
