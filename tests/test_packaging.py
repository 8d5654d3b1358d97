"""Packaging: every data folder is declared the way setuptools expects, and ships in the build."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_build_declares_data_packages_and_ships_their_files(tmp_path):
    done = subprocess.run([sys.executable, "setup.py", "egg_info", "--egg-base", str(tmp_path),
                           "build_py", "--build-lib", str(tmp_path / "lib")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "is absent from the `packages` configuration" not in done.stderr + done.stdout
    lib = tmp_path / "lib"
    for path in ("hear_w2v_music/weights/music-small/SHA256SUMS", "pretrain/presets/tiny.yaml",
                 "pretrain/datagen/texts/grammar.txt", "hear_w2v_music/precision.py"):
        assert (lib / path).is_file(), path
