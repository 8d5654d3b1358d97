"""Batches by total samples with random crops, as fairseq's ``RawAudioDataset`` does.

``BatchStream`` is an endless, deterministic stream of batches (epoch ``e`` shuffles with seed
``seed + e``): each batch gathers segments of similar length while ``count * crop <= max_batch_samples``,
where ``crop = min(shortest segment in the batch, max_crop_samples)``, and draws a random crop
offset per segment. Batch ``g`` of the stream goes to rank ``g % world_size``; ``start`` skips the
batches already consumed, so a resumed run sees the data it would have seen.

``SegmentDataset`` reads one crop (soundfile), mixes to mono and resamples to 16 kHz (soxr);
unreadable audio gives ``None``, which ``collate`` drops and counts.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from pretrain.fileio import read_mono, resample
from pretrain.sources import Segment

SORT_CHUNK = 64  # segments sorted by length together when forming batches


@dataclass(frozen=True)
class CropRequest:
    """One item of a batch: segment ``index``, crop ``offset`` and ``length`` in samples at 16 kHz, batch ``batch``."""

    index: int
    offset: int
    length: int
    batch: int


def plan_epoch(lengths: np.ndarray, max_batch_samples: int, max_crop: int, seed: int) -> list[np.ndarray]:
    """Group segment indices into batches for one epoch (shuffled), each ``count * crop <= max_batch_samples``.

    ``lengths``: ``(n,)`` segment lengths in samples at 16 kHz.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    for lo in range(0, len(order), SORT_CHUNK):
        chunk = order[lo:lo + SORT_CHUNK]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        current: list[int] = []
        for idx in chunk:
            crop = min(int(lengths[idx]), max_crop)  # descending order: the newest is the shortest
            if current and (len(current) + 1) * crop > max_batch_samples:
                batches.append(np.array(current))
                current = []
            current.append(int(idx))
        if current:
            batches.append(np.array(current))
    return [batches[i] for i in rng.permutation(len(batches))]


class BatchStream(torch.utils.data.Sampler):
    """Endless deterministic batch sampler yielding lists of ``CropRequest`` (no ``__len__``)."""

    def __init__(self, lengths: list[int] | np.ndarray, max_batch_samples: int, max_crop: int,
                 seed: int = 0, rank: int = 0, world_size: int = 1, start: int = 0) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if len(self.lengths) == 0:
            raise ValueError("no segments to batch")
        self.max_batch_samples, self.max_crop = max_batch_samples, max_crop
        self.seed, self.rank, self.world_size, self.start = seed, rank, world_size, start

    def global_batches(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(global batch index, segment indices)`` from the beginning of the stream, endlessly."""
        g, epoch = 0, 0
        while True:
            for batch in plan_epoch(self.lengths, self.max_batch_samples, self.max_crop, self.seed + epoch):
                yield g, batch
                g += 1
            epoch += 1

    def __iter__(self) -> Iterator[list[CropRequest]]:
        first = self.start * self.world_size + self.rank  # the first global batch this rank still needs
        for g, batch in self.global_batches():
            if g < first or (g - self.rank) % self.world_size:
                continue
            rng = np.random.default_rng([self.seed, g])
            crop = int(min(self.lengths[batch].min(), self.max_crop))
            offsets = rng.integers(0, self.lengths[batch] - crop + 1)
            yield [CropRequest(int(i), int(o), crop, g) for i, o in zip(batch, offsets)]


class SegmentDataset(torch.utils.data.Dataset):
    """Map a ``CropRequest`` to float32 mono audio ``(length,)`` at ``sample_rate`` Hz, or ``None`` if unreadable."""

    def __init__(self, segments: list[Segment], sample_rate: int = 16000) -> None:
        self.segments, self.sample_rate = segments, sample_rate

    def lengths(self) -> list[int]:
        """Segment lengths in samples at the target rate."""
        return [s.length_at(self.sample_rate) for s in self.segments]

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, request: CropRequest) -> np.ndarray | None:
        seg = self.segments[request.index]
        ratio = seg.sample_rate / self.sample_rate
        start = seg.start + int(request.offset * ratio)
        frames = min(int(np.ceil(request.length * ratio)) + 32, seg.start + seg.frames - start)
        try:  # NaN or Inf samples are an AudioFileError too
            mono, sr = read_mono(seg.path, start=start, frames=frames)
        except Exception:  # noqa: BLE001 - corrupt or vanished files are skipped, never fatal
            return None
        if mono.size == 0:
            return None
        mono = resample(mono, sr, self.sample_rate)
        out = np.zeros(request.length, dtype=np.float32)
        n = min(request.length, len(mono))
        out[:n] = mono[:n]
        return out


EMPTY_SAMPLES = 16000  # length of the silent stand-in for a batch whose items were all unreadable


def collate(items: list[np.ndarray | None], batch_index: int = -1) -> dict:
    """Stack crops into ``waves`` ``(B, N)`` float32; ``failed`` counts the unreadable items dropped.

    If every item failed, ``waves`` is one second of silence ``(1, 16000)`` and ``empty`` is True:
    the step then contributes a zero loss, so DDP ranks stay in lockstep.
    """
    good = [x for x in items if x is not None]
    waves = torch.from_numpy(np.stack(good)) if good else torch.zeros(1, EMPTY_SAMPLES)
    return {"waves": waves, "failed": len(items) - len(good), "batch": batch_index, "empty": not good}


def _collate_pairs(pairs: list[tuple[np.ndarray | None, int]]) -> dict:
    """``collate`` of ``(audio, batch index)`` pairs, keeping the stream's batch index (for seeding)."""
    return collate([p[0] for p in pairs], pairs[0][1] if pairs else -1)


class _Indexed(torch.utils.data.Dataset):
    """``SegmentDataset`` items paired with the batch index of their request."""

    def __init__(self, dataset: SegmentDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, request: CropRequest) -> tuple[np.ndarray | None, int]:
        return self.dataset[request], request.batch


def make_loader(dataset: SegmentDataset, max_batch_samples: int, max_crop: int, seed: int = 0,
                rank: int = 0, world_size: int = 1, start: int = 0, num_workers: int = 0
                ) -> torch.utils.data.DataLoader:
    """A DataLoader over the endless ``BatchStream`` starting after ``start`` local batches."""
    sampler = BatchStream(dataset.lengths(), max_batch_samples, max_crop, seed, rank, world_size, start)
    return torch.utils.data.DataLoader(
        _Indexed(dataset), batch_sampler=sampler, collate_fn=_collate_pairs, num_workers=num_workers,
        persistent_workers=num_workers > 0, prefetch_factor=4 if num_workers > 0 else None)
