"""Pretraining sources and batches: MusicNet layout, manifest cache, segmentation, crops, bad files."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from pretrain import sources
from pretrain.data import BatchStream, CropRequest, SegmentDataset, collate, plan_epoch
from pretrain.sources import AudioFile, build_manifest, collect_segments, list_audio, segment_file


def _write(path, seconds: float, sr: int = 44100, freq: float = 440.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)


@pytest.fixture
def musicnet(tmp_path):
    root = tmp_path / "musicnet"
    _write(root / "train_data" / "1727.wav", 3.0)
    _write(root / "train_data" / "1728.wav", 2.5)
    _write(root / "test_data" / "2303.wav", 2.0)
    (root / "train_labels").mkdir()
    (root / "train_labels" / "1727.csv").write_text(
        "start_time,end_time,instrument,note,start_beat,end_beat,note_value\n0,44100,1,60,0,1,Quarter\n")
    return root


def test_musicnet_layout_uses_the_requested_splits(musicnet):
    assert sources.is_musicnet(musicnet)
    assert [p.name for p in list_audio(musicnet)] == ["1727.wav", "1728.wav"]
    assert [p.name for p in list_audio(musicnet, ["train", "test"])] == ["1727.wav", "1728.wav", "2303.wav"]
    with pytest.raises(ValueError, match="split"):
        list_audio(musicnet, ["valid"])


def test_plain_folder_is_scanned_recursively(tmp_path):
    _write(tmp_path / "a" / "x.wav", 1.0, 16000)
    _write(tmp_path / "b" / "c" / "y.flac", 1.0, 22050)
    (tmp_path / "notes.txt").write_text("not audio")
    assert sorted(p.name for p in list_audio(tmp_path)) == ["x.wav", "y.flac"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_audio(tmp_path / "nope")


@pytest.mark.parametrize("seconds, starts", [
    (60.0, [0, 10, 20, 30, 40]),  # the paper's 20 s segments every 10 s
    (30.0, [0, 10]),
    (25.0, [0]),
    (20.0, [0]),
])
def test_segmentation_arithmetic(seconds, starts):
    sr = 44100
    audio = AudioFile("x.wav", int(seconds * sr), sr, 0, 0)
    segs = segment_file(audio, 20.0, 10.0, 2.0)
    assert [s.start / sr for s in segs] == starts
    assert all(s.frames == 20 * sr for s in segs)
    assert segs[0].length_at(16000) == 320000


def test_short_files_give_one_whole_segment_or_none():
    sr = 16000
    assert segment_file(AudioFile("x", 15 * sr, sr, 0, 0), 20, 10, 2)[0].frames == 15 * sr
    assert segment_file(AudioFile("x", 1 * sr, sr, 0, 0), 20, 10, 2) == []


def test_manifest_is_cached_and_invalidated_by_changes(musicnet, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = build_manifest(musicnet, cache_dir=cache)
    assert [f.frames for f in first.files] == [132300, 110250]
    calls = []
    real_info = sf.info
    monkeypatch.setattr(sources.sf, "info", lambda p: calls.append(p) or real_info(p))
    again = build_manifest(musicnet, cache_dir=cache)
    assert again.files == first.files and calls == []  # nothing re-probed
    _write(musicnet / "train_data" / "1728.wav", 4.0)  # size and mtime change
    changed = build_manifest(musicnet, cache_dir=cache)
    assert [f.frames for f in changed.files] == [132300, 176400]
    assert [p.endswith("1728.wav") for p in calls] == [True]


def test_corrupt_files_are_skipped_and_counted(musicnet, tmp_path):
    (musicnet / "train_data" / "broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    segments, skipped = collect_segments([musicnet], 2.0, 1.0, 1.0, cache_dir=tmp_path / "c")
    assert len(skipped) == 1 and skipped[0].endswith("broken.wav")
    assert {s.path.rsplit("/", 1)[1] for s in segments} == {"1727.wav", "1728.wav"}
    # cached as unreadable: still skipped on the next call
    assert collect_segments([musicnet], 2.0, 1.0, 1.0, cache_dir=tmp_path / "c")[1] == skipped


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no usable audio"):
        collect_segments([tmp_path / "empty"], cache_dir=tmp_path / "c")


def test_reader_resamples_to_16k_and_keeps_pitch(musicnet, tmp_path):
    segments, _ = collect_segments([musicnet], 2.0, 1.0, 1.0, cache_dir=tmp_path / "c")
    dataset = SegmentDataset(segments)
    audio = dataset[CropRequest(0, 1000, 16000, 0)]
    assert audio.shape == (16000,) and audio.dtype == np.float32
    peak_hz = np.argmax(np.abs(np.fft.rfft(audio))) * 16000 / len(audio)
    assert abs(peak_hz - 440) <= 2


def test_vanished_file_reads_as_none_and_collate_counts_it(musicnet, tmp_path):
    segments, _ = collect_segments([musicnet], 2.0, 1.0, 1.0, cache_dir=tmp_path / "c")
    dataset = SegmentDataset(segments)
    good = dataset[CropRequest(0, 0, 8000, 0)]
    (musicnet / "train_data" / "1728.wav").unlink()
    bad_index = next(i for i, s in enumerate(segments) if s.path.endswith("1728.wav"))
    assert dataset[CropRequest(bad_index, 0, 8000, 0)] is None
    batch = collate([good, None], 7)
    assert batch["waves"].shape == (1, 8000) and batch["failed"] == 1 and batch["batch"] == 7
    assert not batch["empty"]
    empty = collate([None, None], 8)
    assert empty["empty"] and empty["failed"] == 2 and empty["waves"].abs().sum() == 0


def test_batches_respect_the_sample_budget_and_crop_cap():
    lengths = np.array([320000] * 20 + [100000, 64000, 50000])
    batches = plan_epoch(lengths, 640000, 160000, seed=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for batch in batches:
        crop = min(lengths[batch].min(), 160000)
        assert len(batch) == 1 or len(batch) * crop <= 640000
    stream = iter(BatchStream(lengths, 640000, 160000, seed=0))
    for _ in range(10):
        items = next(stream)
        assert len({r.length for r in items}) == 1  # one crop length per batch
        for r in items:
            assert r.length <= min(160000, lengths[r.index]) and 0 <= r.offset <= lengths[r.index] - r.length


def test_stream_resumes_at_an_offset_and_splits_across_ranks():
    lengths = np.full(13, 32000)
    full = BatchStream(lengths, 64000, 16000, seed=3)
    head = [b for _, b in zip(range(12), iter(full))]
    resumed = [b for _, b in zip(range(7), iter(BatchStream(lengths, 64000, 16000, seed=3, start=5)))]
    assert resumed == head[5:12]  # crosses epoch boundaries (4 batches per epoch here)
    r0 = [b for _, b in zip(range(3), iter(BatchStream(lengths, 64000, 16000, seed=3, rank=0, world_size=2)))]
    r1 = [b for _, b in zip(range(3), iter(BatchStream(lengths, 64000, 16000, seed=3, rank=1, world_size=2)))]
    assert [b[0].batch for b in r0] == [0, 2, 4] and [b[0].batch for b in r1] == [1, 3, 5]
    assert r0[1] == head[2] and r1[2] == head[5]
