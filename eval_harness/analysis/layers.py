"""Per-frame features of every stage of a wav2vec 2.0 model, and the 4 s clips they are computed on.

Stages, as ``hear_w2v_music.layers`` defines them (the one layer extractor, shared with the HEAR
module and FE): "cnn" is the CNN feature encoder's output after the feature layer norm and before
the feature projection (HF ``extract_features``, conv_dim wide); layer 0 is the transformer input
(HF ``hidden_states[0]``) and layer k in 1..L the output of transformer block k.
Frames are 20 ms apart (320 samples at 16 kHz), frame k covering samples [320 k, 320 k + 400).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from eval_harness.analysis import AnalysisError
from hear_w2v_music.frames import SAMPLE_RATE
from hear_w2v_music.layers import CNN, LayerExtractor
from pretrain.fileio import AudioFileError, read_mono, resample

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")


def backbone_of(model: torch.nn.Module) -> torch.nn.Module:
    """The HF `Wav2Vec2Model` inside a `Wav2Vec2ForPreTraining` / `Wav2Vec2ForCTC`, or the model itself."""
    inner = getattr(model, "wav2vec2", model)
    if not hasattr(inner, "feature_extractor") or not hasattr(inner, "encoder"):
        raise AnalysisError(f"{type(model).__name__} is not a wav2vec 2.0 model (no feature_extractor / encoder)")
    return inner


@torch.no_grad()
def layer_features(model: torch.nn.Module, audio: torch.Tensor, normalize: bool) -> tuple[torch.Tensor,
                                                                                             list[torch.Tensor]]:
    """CNN output and every transformer layer's output for a batch of clips, in one forward pass.

    Args:
        model: a wav2vec 2.0 model (HF `Wav2Vec2Model` or a wrapper holding one as `.wav2vec2`), eval mode.
        audio: (B, n) float32 waveform at 16 kHz, values in [-1, 1].
        normalize: apply the checkpoint's per-clip input normalisation first.

    Returns:
        (cnn, layers): cnn (B, T, conv_dim) float32 (after the feature layer norm); layers a list of
        L + 1 float32 tensors (B, T, hidden), index 0 the transformer input and k the output of block k.
    """
    if audio.ndim != 2:
        raise AnalysisError(f"expected audio of shape (batch, samples), got {tuple(audio.shape)}")
    extractor = LayerExtractor(backbone_of(model), normalize)
    cnn, *layers = extractor.frames(audio, [CNN, *range(extractor.num_layers + 1)])
    return cnn, layers


def audio_files(folder: str | Path, max_files: int | None = None) -> list[Path]:
    """The audio files to analyse, sorted by name.

    A MusicNet root (a folder holding ``test_data/``) means its held-out ``test_data/`` files;
    any other folder is searched recursively for audio files. With `max_files`, files evenly spaced
    over the sorted list are kept (so a subset spans every prefix, e.g. every NSynth family).

    Raises:
        AnalysisError: a missing folder, or one without audio files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AnalysisError(f"{folder}: audio folder does not exist")
    if (folder / "test_data").is_dir():
        folder = folder / "test_data"
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise AnalysisError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)}) found")
    if max_files is not None and max_files < len(files):
        if max_files < 1:
            raise AnalysisError(f"max_files must be at least 1, got {max_files}")
        files = [files[int(i)] for i in np.unique(np.linspace(0, len(files) - 1, max_files).round())]
    return files


def middle_clip(path: str | Path, seconds: float) -> np.ndarray:
    """`seconds` of audio from the middle of a file, mono, resampled to 16 kHz.

    Returns:
        float32 array (round(seconds * 16000),), or the whole file if it is shorter.

    Raises:
        AnalysisError: an unreadable file, or one shorter than one frame (400 samples at 16 kHz).
    """
    if seconds <= 0:
        raise AnalysisError(f"clip length must be positive, got {seconds} s")
    try:
        mono, rate = read_mono(path, finite=False)
    except AudioFileError as err:
        raise AnalysisError(f"{path}: not a readable audio file ({err})") from err
    want = int(round(seconds * rate))
    start = max(0, (mono.shape[0] - want) // 2)
    mono = mono[start:start + want]
    mono = resample(mono, rate, SAMPLE_RATE)
    if mono.shape[0] < 400:
        raise AnalysisError(f"{path}: {mono.shape[0]} samples at 16 kHz, shorter than one 400-sample frame")
    return np.ascontiguousarray(mono, dtype=np.float32)


def collect_layer_frames(model: torch.nn.Module, clips: list[np.ndarray], normalize: bool) -> tuple[np.ndarray,
                                                                                                   list[np.ndarray]]:
    """Frames of every stage over a list of clips, concatenated along time.

    Args:
        model: as `layer_features`.
        clips: 16 kHz float32 clips, each (n_i,); clips of different lengths are run one at a time.
        normalize: as `layer_features`.

    Returns:
        (cnn, layers): cnn (N, conv_dim) float32 and L + 1 arrays (N, hidden), N the total frame count.
    """
    if not clips:
        raise AnalysisError("no clips to analyse")
    cnn_parts: list[np.ndarray] = []
    layer_parts: list[list[np.ndarray]] = []
    for clip in clips:
        cnn, layers = layer_features(model, torch.from_numpy(clip)[None], normalize)
        cnn_parts.append(cnn[0].numpy())
        layer_parts.append([h[0].numpy() for h in layers])
    stacked = [np.concatenate([parts[k] for parts in layer_parts]) for k in range(len(layer_parts[0]))]
    return np.concatenate(cnn_parts), stacked


def _finetune_run(folder: Path) -> dict | None:
    """The run config of a `w2v-music finetune` FT1/FT2 run directory, or None for anything else."""
    import json

    cfg_path = folder / "config.json"
    if not (folder.is_dir() and cfg_path.is_file() and (folder / "state.pt").is_file()):
        return None
    try:
        cfg = json.loads(cfg_path.read_text())
    except ValueError:
        return None
    return cfg if isinstance(cfg, dict) and {"task", "mode", "model"} <= set(cfg) else None


def load_backbone(src: str) -> tuple[torch.nn.Module, bool, str]:
    """A wav2vec 2.0 model for the layer analysis, from any `load_checkpoint` source or a finetune run.

    A directory written by `w2v-music finetune --mode ft1|ft2` (RUN/config.json naming the base
    model, RUN/state.pt holding the classifier's best-validation weights under ``backbone.``) gives
    the base model with the finetuned backbone weights loaded.

    Returns:
        (model, normalize, name): the HF model in eval mode on CPU, the input normalisation flag,
        and a display name ("music-small", or "BASE ft1 pitch" for a finetune run).
    """
    from hear_w2v_music.checkpoints import load_checkpoint

    run = _finetune_run(Path(src))
    if run is None:
        ckpt = load_checkpoint(src)
        return ckpt.model.eval(), ckpt.normalize, src or "music-small"
    if run["mode"] == "fe":
        raise AnalysisError(f"{src}: an FE run trains only the linear head; analyse its base model {run['model']!r}")
    ckpt = load_checkpoint(run["model"])
    state = torch.load(Path(src) / "state.pt", map_location="cpu", weights_only=True)
    best = state.get("best_state") if isinstance(state, dict) else None
    if not best:
        raise AnalysisError(f"{src}/state.pt: no 'best_state' (expected a finetune training checkpoint)")
    backbone = {k[len("backbone."):]: v for k, v in best.items() if k.startswith("backbone.")}
    missing, unexpected = ckpt.model.wav2vec2.load_state_dict(backbone, strict=False)
    missing = [k for k in missing if k != "masked_spec_embed"]
    if missing or unexpected:
        raise AnalysisError(f"{src}/state.pt: backbone weights do not match {run['model']!r} "
                            f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    name = f"{Path(run['model']).name or 'music-small'} {run['mode']} {run['task']}"
    return ckpt.model.eval(), ckpt.normalize, name
