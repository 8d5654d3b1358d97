"""Which floating-point precision fits the machine: ``resolve_precision("auto", device)``.

bfloat16 halves the memory traffic and, where the hardware has bf16 units, doubles the matmul rate:
on CUDA GPUs and on CPUs whose OS reports ``avx512_bf16`` or ``amx_bf16``. Elsewhere PyTorch
emulates bf16, several times slower than fp32 (docs/performance.md). Machines change from day to
day, so ``"auto"`` detects, never assumes. Torch-only, so the HEAR module, the evaluation and
pretraining all decide through this one function.
"""
from __future__ import annotations

import functools
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 CPU flags, as Linux names them in /proc/cpuinfo
_CPUINFO = Path("/proc/cpuinfo")


@functools.cache
def _read_cpuinfo() -> str:
    """The text of /proc/cpuinfo, or "" where there is none (not Linux) or it cannot be read."""
    try:
        return _CPUINFO.read_text(errors="replace")
    except OSError:
        return ""


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU feature flags the OS reports (the first ``flags`` line of ``cpuinfo``, default /proc/cpuinfo).

    Empty where the OS reports none (not Linux, or an architecture without a ``flags`` line).
    """
    text = _read_cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU model the OS reports (``model name`` of ``cpuinfo``), or "unknown CPU"."""
    text = _read_cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return "unknown CPU"


def native_bf16(device: str | torch.device = "cpu", cpuinfo: str | None = None) -> tuple[bool, str]:
    """Whether ``device`` computes bfloat16 natively, and why: ``(native, reason)``.

    CUDA: native unless ``torch.cuda.is_bf16_supported()`` says otherwise (pre-Ampere GPUs). CPU: the
    flags of ``cpuinfo`` (default /proc/cpuinfo) name ``avx512_bf16`` or ``amx_bf16``; where the OS
    reports no flags, torch's own CPU probe decides. Other devices: not native.
    """
    device = torch.device(device)
    if device.type == "cuda":
        if torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
            return False, f"{torch.cuda.get_device_name(device)} has no native bf16"
        return True, "CUDA computes bf16 natively"
    if device.type != "cpu":
        return False, f"no native-bf16 check for {device.type} devices"
    flags = cpu_flags(cpuinfo)
    if flags:
        found = [f for f in NATIVE_BF16_FLAGS if f in flags]
        if found:
            return True, f"the CPU ({cpu_name(cpuinfo)}) reports {' and '.join(found)}: native bf16"
        return False, (f"the CPU ({cpu_name(cpuinfo)}) reports neither {' nor '.join(NATIVE_BF16_FLAGS)}: "
                       f"bf16 would be emulated, several times slower than fp32")
    probes = [name for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
              if getattr(torch.cpu, name, lambda: False)()]
    if probes:
        return True, f"the OS reports no CPU flags; torch.cpu.{probes[0]}() is true: native bf16"
    return False, "the OS reports no CPU flags and torch finds no AVX512-BF16 or AMX: bf16 assumed emulated"


def resolve_precision(precision: str = "auto", device: str | torch.device = "cpu",
                      cpuinfo: str | None = None) -> tuple[str, str]:
    """``"auto"``, ``"fp32"`` or ``"bf16"`` on ``device`` -> ``("fp32" | "bf16", reason)``.

    ``"auto"`` is bf16 where ``native_bf16(device)`` holds (CUDA, CPUs with AVX512-BF16 or AMX), fp32
    elsewhere; ``"fp32"`` and ``"bf16"`` are kept as asked. Raises ``ValueError`` for anything else.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision, f"{precision} as asked"
    native, why = native_bf16(device, cpuinfo)
    return ("bf16" if native else "fp32"), f"auto on {torch.device(device).type}: {why}"
