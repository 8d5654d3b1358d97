"""pretrain.fileio: atomic writers leave ordinary, readable files (mkstemp alone would make them private, mode 0600),
atomic folders, and the one audio loader."""
import os
import stat

import numpy as np
import pytest
import soundfile as sf

from pretrain.fileio import (
    AudioFileError, atomic_dir, atomic_path, dir_mode, load_audio, partial_dir, read_mono, write_json_atomic,
    write_text_atomic,
)


def test_atomic_writes_are_readable_by_others_and_leave_no_temporaries(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    write_text_atomic(tmp_path / "b.md", "table\n")
    for name in ("a.json", "b.md"):
        mode = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
        assert mode & 0o044 == 0o044, oct(mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.md"]


def test_atomic_path_follows_the_umask_and_cleans_up_on_error(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "sub" / "c.bin", fsync=True) as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "sub" / "c.bin").st_mode) == 0o640
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "d.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert not (tmp_path / "d.bin").exists()
    assert not list(tmp_path.glob(".*"))


def test_atomic_dir_fresh_and_resumable(tmp_path):
    with atomic_dir(tmp_path / "fresh") as work:
        (work / "f.txt").write_text("done")
    assert (tmp_path / "fresh" / "f.txt").read_text() == "done"
    assert stat.S_IMODE(os.stat(tmp_path / "fresh").st_mode) == dir_mode()  # not mkdtemp's 0700
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic_dir(tmp_path / "fresh"):
            pass
    with atomic_dir(tmp_path / "fresh", overwrite=True) as work:
        (work / "g.txt").write_text("new")
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == ["g.txt"]
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "resumed", resume=True) as work:
            (work / "first.txt").write_text("kept")
            raise RuntimeError("interrupted")
    assert (partial_dir(tmp_path / "resumed") / "first.txt").is_file() and not (tmp_path / "resumed").exists()
    (tmp_path / "resumed").mkdir()  # an empty folder is accepted by a resumable build
    with atomic_dir(tmp_path / "resumed", resume=True) as work:
        assert (work / "first.txt").read_text() == "kept"
    assert (tmp_path / "resumed" / "first.txt").is_file() and not partial_dir(tmp_path / "resumed").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_load_audio_names_the_file_it_rejects(tmp_path):
    sf.write(tmp_path / "st.wav", np.full((8000, 2), 0.25, np.float32), 8000, subtype="FLOAT")
    audio = load_audio(tmp_path / "st.wav")
    assert audio.dtype == np.float32 and audio.shape == (16000,)
    part, rate = read_mono(tmp_path / "st.wav", start=100, frames=50)
    assert rate == 8000 and part.shape == (50,) and np.allclose(part, 0.25)
    bad = np.zeros((800, 1), np.float32)
    bad[10] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 8000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="nan.wav holds NaN"):
        load_audio(tmp_path / "nan.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    with pytest.raises(AudioFileError, match="junk.wav"):
        load_audio(tmp_path / "junk.wav")
