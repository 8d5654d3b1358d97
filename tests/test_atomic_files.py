"""Atomic writers leave ordinary, readable files (mkstemp alone would make them private, mode 0600)."""
import os
import stat

from pretrain.fileio import write_json_atomic, write_text_atomic


def test_atomic_writes_are_readable_by_others_and_leave_no_temporaries(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    write_text_atomic(tmp_path / "b.md", "table\n")
    for name in ("a.json", "b.md"):
        mode = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
        assert mode & 0o044 == 0o044, oct(mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.md"]
