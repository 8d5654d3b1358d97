"""Where weights come from: one source string -> a ``Checkpoint`` (see docs/architecture.md).

Sources: ``""`` (the bundled ``music-small``), a bundled name, an HF model directory, a fairseq
``.pt``, a Lightning ``.ckpt`` or ``pretrain`` run directory, and ``random:SRC[@SEED]``.
Every source is rebuilt as ``transformers.Wav2Vec2ForPreTraining`` in eval mode on the CPU;
``Checkpoint.heads`` says which head weights were really loaded.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

from . import configs, fairseq, frames

WEIGHTS_DIR = Path(__file__).parent / "weights"
BUNDLED = ("music-small", "speech-small")
DEFAULT = "music-small"
HEADS = ("quantizer", "project_q", "project_hid", "lm_head")
_HEAD_PREFIXES = {"quantizer": "quantizer.", "project_q": "project_q.", "project_hid": "project_hid.", "lm_head": "lm_head."}
# The checkpoint schema of `w2v-music pretrain` (docs/architecture.md), defined here so that the HEAR
# module reads it without Lightning: a Lightning checkpoint holds the Wav2Vec2ForPreTraining under the
# state_dict prefix "model." and, under CHECKPOINT_KEY, the dict of `pretrain_metadata`.
CHECKPOINT_KEY = "w2v_music"
FORMAT_VERSION = 1
STATE_KEY = "w2v_music_state"  # pretrain's own counters and data provenance (the HEAR module never reads it)
# Globals a checkpoint may pickle that are plain data (allowed under weights_only=True).
_SAFE_GLOBALS = [argparse.Namespace, pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath]


@dataclass
class Checkpoint:
    """A loaded model with its provenance.

    ``model``: ``Wav2Vec2ForPreTraining`` (eval, CPU); ``heads``: the head weights really loaded, a
    subset of ``HEADS`` (a CTC head is attached as ``model.lm_head``, an ``nn.Linear``);
    ``normalize``: per-clip zero-mean unit-variance input normalisation; ``kind``: "bundled", "hf",
    "fairseq", "lightning" or "random"; ``source``: the string given; ``info``: provenance details.
    """

    model: Wav2Vec2ForPreTraining
    heads: frozenset[str]
    normalize: bool
    kind: str
    source: str
    info: dict = field(default_factory=dict)

    @property
    def config(self) -> Wav2Vec2Config:
        """The HF config of ``model``."""
        return self.model.config


def load_checkpoint(src: str, *, allow_pickle: bool = False) -> Checkpoint:
    """Load any model source of docs/architecture.md as a ``Checkpoint``.

    ``allow_pickle`` lets ``torch.load`` run arbitrary pickled code, for old fairseq or Lightning
    files that hold more than tensors and plain data; only use it on files you trust.
    Raises ``FileNotFoundError`` for a missing path or an unbuilt bundled checkpoint and
    ``ValueError`` for a file that is not a wav2vec 2.0 checkpoint, naming what was found.
    """
    if not isinstance(src, str):
        raise TypeError(f"model source must be a string, got {type(src).__name__}")
    src = src.strip()
    if src == "":
        return _load_bundled(DEFAULT, src)
    if src.startswith("random:"):
        return _load_random(src)
    path = Path(src).expanduser()
    if not path.exists():
        if src in BUNDLED or (WEIGHTS_DIR / src).is_dir():
            return _load_bundled(src, src)
        raise FileNotFoundError(
            f"model source {src!r}: no such file or directory, and not a bundled name ({', '.join(BUNDLED)}) "
            f"nor random:SRC / random:{{{','.join(configs.SIZES)}}}")
    if path.is_dir():
        if (path / "config.json").is_file():
            return _load_hf_dir(path, src, kind="hf")
        if (path / "checkpoints" / "last.ckpt").is_file():
            return _load_torch_file(path / "checkpoints" / "last.ckpt", src, allow_pickle)
        listing = sorted(p.name for p in path.iterdir())[:8]
        raise ValueError(f"model source {src!r} is a directory with neither config.json (an HF model dir) nor "
                         f"checkpoints/last.ckpt (a pretrain run); it holds {listing or 'nothing'}")
    return _load_torch_file(path, src, allow_pickle)


def _load_bundled(name: str, src: str) -> Checkpoint:
    """A bundled checkpoint from ``weights/<name>/``, after checking ``SHA256SUMS``."""
    folder = WEIGHTS_DIR / name
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"the bundled checkpoint {name!r} is not built yet (no {folder}/model.safetensors). Build it with "
            f"`w2v-music pretrain --config small --data DIR --out runs/{name}` then "
            f"`w2v-music export runs/{name} {folder}`, or pass another model source "
            f"(an HF dir, a fairseq .pt, a pretrain run, random:small)")
    verify_checksums(folder)
    ckpt = _load_hf_dir(folder, src or name, kind="bundled")
    ckpt.info["bundled_name"] = name
    return ckpt


def pretrain_metadata(hf_config: dict, normalize: bool, pretrain_config: dict) -> dict:
    """The ``CHECKPOINT_KEY`` entry a ``pretrain`` checkpoint carries.

    ``hf_config``: ``Wav2Vec2Config.to_dict()``; ``normalize``: per-clip input normalisation;
    ``pretrain_config``: the run's ``PretrainConfig.to_dict()`` (provenance only).
    """
    return {"format_version": FORMAT_VERSION, "hf_config": hf_config, "normalize": bool(normalize),
            "pretrain_config": pretrain_config}


def load_lightning(path: str | Path, *, allow_pickle: bool = False) -> tuple[Checkpoint, Mapping[str, Any]]:
    """A ``pretrain`` checkpoint file as a ``Checkpoint``, with the checkpoint dict itself (for provenance).

    Raises ``ValueError`` for a file without the ``CHECKPOINT_KEY`` entry or with another format version.
    """
    path = Path(path)
    obj = _torch_load(path, allow_pickle)
    if not isinstance(obj, Mapping) or CHECKPOINT_KEY not in obj:
        raise ValueError(f"{path} has no {CHECKPOINT_KEY!r} key: not written by `w2v-music pretrain`")
    return _from_lightning(obj, path, str(path)), obj


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(folder: Path) -> None:
    """Check every file listed in ``folder/SHA256SUMS`` (``<hex>  <name>`` lines); raise ``ValueError`` on a mismatch."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        raise FileNotFoundError(f"{folder} has no SHA256SUMS: cannot verify the bundled checkpoint")
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        expected, name = line.split(maxsplit=1)
        target = folder / name.strip().lstrip("*")
        if not target.is_file():
            raise FileNotFoundError(f"{target} is listed in {sums} but missing")
        actual = sha256_file(target)
        if actual != expected.lower():
            raise ValueError(f"checksum mismatch for {target}: SHA256SUMS says {expected}, the file has "
                             f"{actual}; the file is corrupt or was changed")


def _read_normalize(folder: Path, default: bool = False) -> bool:
    """``do_normalize`` of ``folder/preprocessor_config.json`` (``default`` when the file is absent)."""
    pre = folder / "preprocessor_config.json"
    return bool(json.loads(pre.read_text()).get("do_normalize", default)) if pre.is_file() else default


def _load_hf_dir(folder: Path, src: str, kind: str) -> Checkpoint:
    """An HF dir with ``Wav2Vec2Model``, ``Wav2Vec2ForPreTraining`` or ``Wav2Vec2ForCTC`` weights."""
    config = Wav2Vec2Config.from_json_file(str(folder / "config.json"))
    if (folder / "model.safetensors").is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            state = load_file(str(folder / "model.safetensors"))
        except SafetensorError as err:
            raise ValueError(f"{folder / 'model.safetensors'} is a truncated or corrupt safetensors file "
                             f"({err}); copy or export it again") from err
    elif (folder / "pytorch_model.bin").is_file():
        try:
            state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, pickle.UnpicklingError) as err:
            raise ValueError(f"{folder / 'pytorch_model.bin'} is a truncated or corrupt torch file "
                             f"({str(err).splitlines()[0][:200]}); copy or export it again") from err
    else:
        raise ValueError(f"HF model dir {folder} has config.json but neither model.safetensors nor pytorch_model.bin")
    if not any(k.startswith("wav2vec2.") for k in state):  # bare Wav2Vec2Model weights
        state = {(k if k.split(".")[0] in _HEAD_PREFIXES else f"wav2vec2.{k}"): v for k, v in state.items()}
    state = {_modern_pos_conv_key(k): v for k, v in state.items()}
    info = {"path": str(folder.resolve()), "architectures": getattr(config, "architectures", None)}
    return _build(config, state, _read_normalize(folder), kind, src, info)


def _modern_pos_conv_key(key: str) -> str:
    """Old transformers saved the positional conv's weight norm as ``weight_g``/``weight_v``."""
    return (key.replace("pos_conv_embed.conv.weight_g", "pos_conv_embed.conv.parametrizations.weight.original0")
               .replace("pos_conv_embed.conv.weight_v", "pos_conv_embed.conv.parametrizations.weight.original1"))


def _torch_load(path: Path, allow_pickle: bool) -> Any:
    """``torch.load`` with ``weights_only=True`` (plus a few plain-data globals) unless ``allow_pickle``."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] != b"PK" and magic[:1] != b"\x80":  # torch's zip format, or a legacy pickle
        raise ValueError(f"{path} is not a torch checkpoint: a {path.stat().st_size}-byte file starting with "
                         f"{magic!r} (expected a fairseq .pt or a pretrain .ckpt, both torch.save files)")
    if allow_pickle:
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path} holds pickled Python objects beyond tensors and plain data, so it cannot be loaded with "
            f"torch.load(weights_only=True) ({str(err).splitlines()[0][:200]}). If you trust the file, load it with "
            f"allow_pickle=True (load_model(..., allow_pickle=True); `--allow-pickle` on the command line)") from err
    except RuntimeError as err:
        raise ValueError(f"{path} is not a torch checkpoint (a {path.stat().st_size}-byte file; "
                         f"torch.load says: {str(err).splitlines()[0][:200]})") from err


def _load_torch_file(path: Path, src: str, allow_pickle: bool) -> Checkpoint:
    """A fairseq ``.pt`` or a Lightning ``.ckpt``, told apart by their contents."""
    obj = _torch_load(path, allow_pickle)
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a checkpoint dict")
    if CHECKPOINT_KEY in obj:
        return _from_lightning(obj, path, src)
    if "model" in obj and isinstance(obj["model"], Mapping) and ("cfg" in obj or "args" in obj):
        return _from_fairseq(obj, path, src)
    if "state_dict" in obj:
        raise ValueError(f"{path} is a Lightning checkpoint without the {CHECKPOINT_KEY!r} key: it was not written by "
                         f"`w2v-music pretrain`, so its architecture is unknown")
    raise ValueError(f"{path} is neither a fairseq checkpoint (keys 'model' + 'cfg'/'args') nor a pretrain "
                     f"checkpoint (key {CHECKPOINT_KEY!r}); its top-level keys are {sorted(map(str, obj))[:8]}")


def _from_fairseq(obj: Mapping[str, Any], path: Path, src: str) -> Checkpoint:
    state = obj["model"]
    model_cfg, task_cfg = fairseq.model_and_task_cfg(obj)
    config = fairseq.hf_config(model_cfg, state)
    mapped = fairseq.convert_state_dict(state)
    fairseq.add_identity_projection(mapped, config)
    finetuned = any(k.startswith(fairseq.FINETUNED_PREFIX) for k in state)
    info = {"path": str(path.resolve()), "finetuned": finetuned, "fairseq_arch": model_cfg.get("_name") or model_cfg.get("arch")}
    return _build(config, mapped, bool(task_cfg.get("normalize", False)), "fairseq", src, info)


def _from_lightning(obj: Mapping[str, Any], path: Path, src: str) -> Checkpoint:
    meta = obj[CHECKPOINT_KEY]
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported {CHECKPOINT_KEY} format_version {meta.get('format_version')!r} "
                         f"(expected {FORMAT_VERSION})")
    config = Wav2Vec2Config.from_dict(dict(meta["hf_config"]))
    state = {k[len("model."):]: v for k, v in obj["state_dict"].items() if k.startswith("model.")}
    if not state:
        raise ValueError(f"{path}: state_dict has no 'model.' keys (expected the Wav2Vec2ForPreTraining under 'model.')")
    info = {"path": str(path.resolve()), "global_step": obj.get("global_step"), "epoch": obj.get("epoch"),
            "pretrain_config": meta.get("pretrain_config")}
    return _build(config, state, bool(meta.get("normalize", False)), "lightning", src, info)


def _load_random(src: str) -> Checkpoint:
    """``random:SRC[@SEED]``: the architecture (and normalize flag) of SRC with fresh weights."""
    spec = src[len("random:"):]
    name, _, seed_text = spec.rpartition("@") if "@" in spec else (spec, "", "0")
    try:
        seed = int(seed_text)
    except ValueError:
        raise ValueError(f"{src!r}: the seed after '@' must be an integer, got {seed_text!r}") from None
    if name in configs.SIZES:
        config, normalize, of = configs.SIZES[name](), False, f"size {name}"
    else:
        template = load_checkpoint(name)
        config, normalize, of = template.config, template.normalize, f"{template.kind} {template.source or DEFAULT}"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Wav2Vec2ForPreTraining(config)
    return _finish(model, frozenset(), normalize, "random", src, {"seed": seed, "architecture_of": of})


def _build(config: Wav2Vec2Config, state: dict[str, torch.Tensor], normalize: bool, kind: str, src: str,
           info: dict) -> Checkpoint:
    """Instantiate ``Wav2Vec2ForPreTraining`` from ``config`` and load ``state`` (HF keys), checking the keys."""
    frames.check_geometry(tuple(config.conv_kernel), tuple(config.conv_stride))
    lm_head = {k: state.pop(k) for k in [k for k in state if k.startswith("lm_head.")]}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # heads absent from the checkpoint keep a reproducible fresh init
        model = Wav2Vec2ForPreTraining(config)
    expected = model.state_dict()
    if "wav2vec2.masked_spec_embed" not in expected:
        state.pop("wav2vec2.masked_spec_embed", None)
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise ValueError(f"{src}: {len(unexpected)} weights do not belong to a wav2vec 2.0 model, e.g. {unexpected[:5]}")
    missing = sorted(k for k in set(expected) - set(state)
                     if not k.startswith(tuple(_HEAD_PREFIXES.values())) and k != "wav2vec2.masked_spec_embed")
    if missing:
        raise ValueError(f"{src}: {len(missing)} backbone weights are missing, e.g. {missing[:5]}")
    shapes = [k for k in state if tuple(state[k].shape) != tuple(expected[k].shape)]
    if shapes:
        k = shapes[0]
        raise ValueError(f"{src}: weight {k} has shape {tuple(state[k].shape)} but the config implies "
                         f"{tuple(expected[k].shape)} ({len(shapes)} mismatches)")
    heads = {h for h, p in _HEAD_PREFIXES.items() if h != "lm_head"
             and all(k in state for k in expected if k.startswith(p))}
    partial = {h for h, p in _HEAD_PREFIXES.items() if h not in heads and any(k.startswith(p) for k in state)}
    if partial:
        raise ValueError(f"{src}: heads {sorted(partial)} are only partly present")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    if lm_head:
        weight = lm_head["lm_head.weight"]
        model.lm_head = torch.nn.Linear(weight.shape[1], weight.shape[0], bias="lm_head.bias" in lm_head)
        model.lm_head.load_state_dict({k[len("lm_head."):]: v.float() for k, v in lm_head.items()})
        heads.add("lm_head")
    return _finish(model, frozenset(heads), normalize, kind, src, info)


def _finish(model: Wav2Vec2ForPreTraining, heads: frozenset[str], normalize: bool, kind: str, src: str,
            info: dict) -> Checkpoint:
    model.eval()
    return Checkpoint(model=model, heads=heads, normalize=normalize, kind=kind, source=src, info=info)


def describe(ckpt: Checkpoint) -> dict:
    """A JSON-able summary of ``ckpt``: provenance, architecture, parameter counts, heads, normalize."""
    c = ckpt.config
    backbone = sum(p.numel() for p in ckpt.model.wav2vec2.parameters())
    return {
        "source": ckpt.source, "kind": ckpt.kind, "info": ckpt.info, "normalize": ckpt.normalize,
        "heads": sorted(ckpt.heads),
        "parameters": {"total": sum(p.numel() for p in ckpt.model.parameters()), "backbone": backbone},
        "config": {
            "hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
            "num_attention_heads": c.num_attention_heads, "intermediate_size": c.intermediate_size,
            "conv_dim": list(c.conv_dim), "conv_kernel": list(c.conv_kernel), "conv_stride": list(c.conv_stride),
            "feat_extract_norm": c.feat_extract_norm, "do_stable_layer_norm": c.do_stable_layer_norm,
            "num_conv_pos_embeddings": c.num_conv_pos_embeddings,
            "num_codevector_groups": c.num_codevector_groups, "num_codevectors_per_group": c.num_codevectors_per_group,
        },
    }
