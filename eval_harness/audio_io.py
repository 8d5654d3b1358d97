"""Former home of the file helpers, now `pretrain.fileio` (the one IO toolkit): names re-exported, nothing defined.

Kept only until the last importers (eval_harness/probe.py) import `pretrain.fileio` themselves.
"""
from pretrain.fileio import (  # noqa: F401
    AudioFileError, atomic_dir, atomic_path, read_wav, remove_temporaries, wav_bytes, wav_info, write_json_atomic,
    write_text_atomic, write_wav,
)
