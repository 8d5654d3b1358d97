"""Conv geometry, frame counts, timestamps and the windowing of long audio (integers only).

wav2vec 2.0's feature encoder (kernels 10,3,3,3,3,2,2; strides 5,2,2,2,2,2,2) sees a
400-sample receptive field and moves by 320 samples, so at 16 kHz frame ``k`` covers samples
``[320 k, 320 k + 400)`` and its centre is sample ``200 + 320 k``, i.e. ``12.5 + 20 k`` ms.
Everything here is computed from integer sample indices; milliseconds appear only at the end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a tensor is made, so SAMPLE_RATE & co. load without it
    import torch

SAMPLE_RATE = 16000  # Hz
RECEPTIVE_FIELD = 400  # samples (25 ms)
HOP = 320  # samples (20 ms)


def check_geometry(conv_kernel: tuple[int, ...], conv_stride: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless the conv stack has the 400-sample field and 320-sample hop."""
    field, jump = 1, 1
    for kernel, stride in zip(conv_kernel, conv_stride):
        field += (kernel - 1) * jump
        jump *= stride
    if (field, jump) != (RECEPTIVE_FIELD, HOP):
        raise ValueError(
            f"conv stack kernels={tuple(conv_kernel)} strides={tuple(conv_stride)} has a {field}-sample field and "
            f"{jump}-sample hop; expected wav2vec 2.0's {RECEPTIVE_FIELD} and {HOP}")


def num_frames(n_samples: int) -> int:
    """Frames the feature encoder yields for ``n_samples`` samples: ``floor((n - 400) / 320) + 1``.

    Clips shorter than one receptive field (``n < 400``) are zero-padded to 400 samples by the
    embedder, so they yield exactly one frame; ``n_samples <= 0`` raises ``ValueError``.
    """
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    if n_samples < RECEPTIVE_FIELD:
        return 1
    return (n_samples - RECEPTIVE_FIELD) // HOP + 1


def frame_span(start: int, stop: int) -> tuple[int, int]:
    """The sample range ``[a, b)`` that frames ``[start, stop)`` need: ``[320 start, 320 (stop - 1) + 400)``."""
    if not 0 <= start < stop:
        raise ValueError(f"need 0 <= start < stop, got start={start} stop={stop}")
    return HOP * start, HOP * (stop - 1) + RECEPTIVE_FIELD


def timestamps_ms(n_samples: int) -> torch.Tensor:
    """Frame centres in ms, float32 of shape ``(num_frames(n_samples),)``.

    Frame ``k`` is centred on sample ``200 + 320 k``, i.e. ``12.5 + 20 k`` ms, and the last centre
    is always inside the audio. A clip shorter than 400 samples gets one frame centred on its own
    middle, ``n_samples / 2`` samples (at most 12.5 ms), so the timestamp never passes the end.
    """
    import torch

    n = num_frames(n_samples)
    if n_samples < RECEPTIVE_FIELD:
        centres = torch.tensor([n_samples / 2.0], dtype=torch.float64)
    else:
        centres = RECEPTIVE_FIELD // 2 + HOP * torch.arange(n, dtype=torch.float64)
    return (centres * 1000.0 / SAMPLE_RATE).float()


@dataclass(frozen=True)
class Window:
    """One window of a long clip, in frames: compute ``[start, stop)``, keep ``[keep_start, keep_stop)``.

    The kept frames are a sub-range of the computed ones; the frames around them are context that
    the transformer attends to and that is then thrown away.
    """

    start: int
    stop: int
    keep_start: int
    keep_stop: int

    @property
    def samples(self) -> tuple[int, int]:
        """The sample range ``[a, b)`` this window reads (see ``frame_span``)."""
        return frame_span(self.start, self.stop)


def plan_windows(n_frames: int, window_frames: int, context_frames: int) -> list[Window]:
    """Cover ``n_frames`` frames with windows of at most ``window_frames`` frames.

    A clip that fits (``n_frames <= window_frames``) is one window and is never chunked. Otherwise
    the kept ranges partition ``[0, n_frames)`` into cores of ``window_frames - 2 * context_frames``
    frames, and every window is exactly ``window_frames`` long: a core plus at least
    ``context_frames`` of context on each side that has audio (edge windows take the spare
    context from the other side).
    """
    if n_frames <= 0:
        raise ValueError(f"n_frames must be positive, got {n_frames}")
    if context_frames < 0 or window_frames - 2 * context_frames < 1:
        raise ValueError(f"need 0 <= context_frames and 2 * context_frames < window_frames, "
                         f"got window_frames={window_frames} context_frames={context_frames}")
    if n_frames <= window_frames:
        return [Window(0, n_frames, 0, n_frames)]
    core = window_frames - 2 * context_frames
    windows = []
    for keep_start in range(0, n_frames, core):
        keep_stop = min(keep_start + core, n_frames)
        start = max(0, keep_start - context_frames)
        stop = min(n_frames, start + window_frames)
        start = max(0, stop - window_frames)
        windows.append(Window(start, stop, keep_start, keep_stop))
    return windows
