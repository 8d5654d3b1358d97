"""make-speech: espeak-ng voices -> 16 kHz speech-like wavs with transcripts; grammar; bad input."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from pretrain import fileio
from pretrain.datagen import common, speech

SR = 16000  # Hz


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, common.RenderSummary]:
    """About 20 s of speech (one batch of utterances), one worker."""
    out = tmp_path_factory.mktemp("speech") / "corpus"
    return out, speech.render_speech(out, hours=20 / 3600, workers=1, seed=1, progress=False)


def _transcripts(out: Path) -> list[dict]:
    with open(out / "transcripts.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_layout_transcripts_and_summary(rendered):
    out, summary = rendered
    rows = _transcripts(out)
    wavs = sorted(out.glob("wavs/*/*.wav"))
    assert len(rows) == len(wavs) == summary.files == speech.BATCH
    assert {str(w.relative_to(out)) for w in wavs} == {r["path"] for r in rows}
    assert summary.audio_s >= 20 and summary.audio_s == pytest.approx(sum(float(r["seconds"]) for r in rows), abs=0.05)
    assert len({r["speaker"] for r in rows}) > 5  # many voices even in one batch
    assert not fileio.partial_dir(out).exists() and not list(out.rglob(".*.tmp"))
    for row in rows:
        assert row["text"][0].isupper() or row["text"][0] == '"'
        assert row["text"].rstrip('"')[-1] in ".?"


def test_wavs_are_16k_and_speech_like(rendered):
    out, _ = rendered
    for row in _transcripts(out):
        info = sf.info(str(out / row["path"]))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
        audio, _ = sf.read(str(out / row["path"]), dtype="float32")
        assert len(audio) / SR == pytest.approx(float(row["seconds"]), abs=1e-3)
        frames = audio[: len(audio) // 320 * 320].reshape(-1, 320)  # 20 ms frames
        level_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
        loud = level_db > level_db.max() - 30
        # speech: loud syllables separated by dips and pauses, not a steady tone or noise
        assert 0.3 < loud.mean() < 0.98
        assert np.percentile(level_db, 90) - np.percentile(level_db, 10) > 20
        bursts = np.sum(np.diff((level_db > np.median(level_db)).astype(int)) == 1)
        assert bursts >= 2 * float(row["seconds"])  # syllable-like bursts, at least 2 per second
        # energy mostly in the speech band (100 Hz - 4 kHz)
        spectrum = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / SR)
        band = spectrum[(freqs > 100) & (freqs < 4000)].sum() / spectrum.sum()
        assert band > 0.7


def test_same_seed_same_text_and_voice(tmp_path):
    speakers = speech.make_speakers(0)
    first = speech.render_batch(0, tmp_path / "a", speakers, seed=4)
    again = speech.render_batch(0, tmp_path / "b", speakers, seed=4)
    other = speech.render_batch(0, tmp_path / "c", speakers, seed=5)
    # texts, voices, rates and pitches repeat exactly; espeak-ng carries a little state from one
    # utterance to the next, so durations may differ by a few milliseconds
    assert [r[:4] + r[5:] for r in first] == [r[:4] + r[5:] for r in again]
    assert np.allclose([float(r[4]) for r in first], [float(r[4]) for r in again], rtol=0.02)
    assert [r[5] for r in first] != [r[5] for r in other]


def test_speakers_cover_many_voices():
    speakers = speech.make_speakers(0)
    voices = {s.voice for s in speakers}
    assert len(voices) == len(speakers) > 200
    assert {"en-us", "en-gb-scotland", "en-us+m3", "en+f2", "en-gb-x-rp+klatt3"} <= voices
    assert not any(v.endswith("+whisper") or "Robot" in v for v in voices)
    assert all(100 <= s.rate_wpm <= 240 and 0 <= s.pitch <= 99 for s in speakers)


def test_voices_sound_different():
    rng = np.random.default_rng(0)
    text = "The quick brown fox jumps over the lazy dog."
    low = speech.synthesize(text, speech.Speaker("en-us+m3", 160, 20, 40), rng)[0]
    high = speech.synthesize(text, speech.Speaker("en-us+f3", 160, 80, 40), rng)[0]
    assert len(low) > SR and len(high) > SR
    centroid = [np.sum(np.fft.rfftfreq(len(a), 1 / SR) * np.abs(np.fft.rfft(a))) / np.sum(np.abs(np.fft.rfft(a)))
                for a in (low, high)]
    assert centroid[1] > centroid[0]


def test_grammar_is_varied_and_checked():
    grammar = speech.default_grammar()
    rng = np.random.default_rng(0)
    sentences = [grammar.sentence(rng) for _ in range(300)]
    assert len(set(sentences)) > 290
    words = {w.strip('.,;?"').lower() for s in sentences for w in s.split()}
    assert len(words) > 500
    assert all("{" not in s and "}" not in s for s in sentences)
    with pytest.raises(ValueError, match="undefined rules"):
        speech.Grammar.from_text("@sentence\n{missing} went home.\n")
    with pytest.raises(ValueError, match="no @sentence"):
        speech.Grammar.from_text("@noun\ncat\n")


def test_unknown_voice_is_an_error():
    with pytest.raises(ValueError, match="no voice"):
        speech.engine().say("hello", "xx-not-a-voice", 160, 50, 50)


def test_resume_and_budget_prune(tmp_path):
    """A run cut off with extra batches on disk resumes and keeps only what its budget lists."""
    out = tmp_path / "s"
    work = fileio.open_partial_dir(out)
    speakers = speech.make_speakers(0)
    first = speech.render_batch(0, work, speakers, seed=0)
    speech.render_batch(5, work, speakers, seed=0)  # beyond the budget of the run below
    stamp = (work / first[0][0]).stat().st_mtime_ns
    summary = speech.render_speech(out, hours=1 / 3600, workers=1, seed=0, progress=False)
    assert summary.files == speech.BATCH
    assert (out / first[0][0]).stat().st_mtime_ns == stamp
    assert len(list(out.glob("wavs/*/*.wav"))) == speech.BATCH


@pytest.mark.parametrize("kwargs, error, match", [
    ({"hours": 0.0}, ValueError, "positive number of hours"),
    ({"hours": float("nan")}, ValueError, "positive number of hours"),
    ({"workers": 0}, ValueError, "at least 1"),
])
def test_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        speech.render_speech(tmp_path / "s", **{"hours": 0.01, "workers": 1, "progress": False, **kwargs})
    assert not (tmp_path / "s").exists()


def test_non_empty_output_is_refused(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "x.wav").write_bytes(b"")
    with pytest.raises(FileExistsError, match="not empty"):
        speech.render_speech(out, hours=0.01, workers=1, progress=False)
    from pretrain.datagen.cli import make_speech

    result = CliRunner().invoke(make_speech, [str(out), "--hours", "0.01"])
    assert result.exit_code == 2 and "not empty" in result.output


def test_two_workers_render_the_same_corpus_as_one(tmp_path, rendered):
    """Jobs are consumed in order, so the pool changes nothing but speed."""
    out, _ = rendered
    summary = speech.render_speech(tmp_path / "s", hours=20 / 3600, workers=2, seed=1, progress=False)
    pooled = _transcripts(tmp_path / "s")
    assert summary.files == len(pooled) == speech.BATCH
    assert [(r["path"], r["text"]) for r in pooled] == [(r["path"], r["text"]) for r in _transcripts(out)]
    assert len(list((tmp_path / "s").glob("wavs/*/*.wav"))) == speech.BATCH
    assert not list((tmp_path / "s").rglob(".*.tmp"))
