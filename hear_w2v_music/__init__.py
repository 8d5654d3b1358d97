"""HEAR 2021 API for wav2vec 2.0 models (placeholder: filled in by the foundation issue)."""
