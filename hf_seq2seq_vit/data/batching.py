"""Batches by token count: similar-length pairs grouped together so that padding stays small.

The Transformer paper batches "by approximate sequence length ... approximately 25000 source tokens and 25000
target tokens" per step. A fixed number of sentences would waste most of a batch on padding when one long sentence
sits among short ones, and would make the memory use swing with sentence length; a token budget keeps both steady.

The sampler works on a numpy array of lengths (4 bytes a pair; a memory-mapped ``.npy`` column of a tokenized
corpus is used as it is) and keeps an epoch's plan as three arrays (the example order, and each batch's start and
size in it), so that millions of pairs cost tens of megabytes and no Python object per example; a batch becomes a
list of indices only when the DataLoader asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["POOL_SIZE", "TokenBudgetBatchSampler", "as_length_array", "cut_by_token_budget"]

POOL_SIZE = 1 << 20  # examples planned together (TokenBudgetBatchSampler); a 1M-pair corpus is one pool


def as_length_array(lengths: Any) -> np.ndarray:
    """``lengths`` as a 1-D integer numpy array, without a copy when it already is one (e.g. a ``np.memmap``).

    Accepts a list, a numpy array, a torch tensor, a pyarrow (chunked) array or a ``datasets`` column.

    Example::

        >>> as_length_array([3, 9, 4]).tolist()
        [3, 9, 4]
    """
    if isinstance(lengths, np.ndarray):
        array = lengths
    elif isinstance(lengths, torch.Tensor):
        array = lengths.numpy()
    elif hasattr(lengths, "to_numpy"):  # pyarrow Array / ChunkedArray
        array = lengths.to_numpy()
    else:
        array = np.asarray(list(lengths) if not isinstance(lengths, (list, tuple)) else lengths)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"lengths must be a 1-D sequence of integer token counts, got dtype {array.dtype} "
                         f"and shape {array.shape}")
    return array


def cut_by_token_budget(sorted_lengths: np.ndarray, max_tokens: int,
                        max_sentences: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy cut of ascending lengths into batches with ``size * longest <= max_tokens``: ``(starts, sizes)``.

    A batch starting at ``s`` takes the largest ``k`` with ``k * sorted_lengths[s + k - 1] <= max_tokens`` (and
    ``k <= max_sentences``). The lengths ascend, so the last one is the longest and ``k * length`` grows with ``k``:
    ``k`` is the number of leading ``True`` in one vectorised comparison over at most ``max_tokens // first``
    lengths. The loop runs once per batch, not once per example.

    Example::

        >>> starts, sizes = cut_by_token_budget(np.array([2, 3, 4, 8, 9]), max_tokens=10)
        >>> starts.tolist(), sizes.tolist()
        ([0, 2, 3, 4], [2, 1, 1, 1])
    """
    count, starts, sizes = len(sorted_lengths), [], []
    cap = count if max_sentences is None else max_sentences
    start = 0
    while start < count:
        window = max(1, min(count - start, max_tokens // max(int(sorted_lengths[start]), 1), cap))
        fits = np.arange(1, window + 1) * sorted_lengths[start:start + window] <= max_tokens
        size = window if fits.all() else max(1, int(np.argmin(fits)))
        starts.append(start)
        sizes.append(size)
        start += size
    return np.asarray(starts, dtype=np.int64), np.asarray(sizes, dtype=np.int64)


class TokenBudgetBatchSampler(Sampler[list[int]]):
    """Yield lists of example indices whose padded size ``len(batch) * longest`` stays within ``max_tokens``.

    Each epoch (seeded by ``seed + epoch``) the indices are shuffled, stably sorted by length (so pairs of equal
    length meet in a new random order every epoch), cut greedily into batches, and the batch order is shuffled.
    Without ``shuffle`` the examples are sorted by length once (evaluation: least padding).

    The number of batches is the same in every epoch, by construction: the sorted sequence of lengths, and hence
    where the greedy cut falls, does not depend on the shuffle. Lightning reads a training loader's length once
    and validates (and checkpoints) when ``(batch_idx + 1) % num_training_batches == 0``; a count that changed
    from epoch to epoch (as sorting inside random pools did) would silently skip validation in every shorter epoch
    and cut every longer one short.

    A corpus of more than ``pool_size`` examples is planned pool by pool: its rows are cut into fixed ranges of
    consecutive rows (the same every epoch), each pool is shuffled, sorted and cut as above, and the epoch takes the
    pools in a shuffled order, each pool's batches in a shuffled order. A batch's rows are then near one another in
    the memory-mapped Arrow file, so an epoch maps each page of it about once instead of once per row it holds
    (random rows of a file larger than what stays mapped cost a page fault each: an epoch over a synthetic token
    file took 11.5 -> 18 µs a pair from 1M to 10M pairs with one plan for the whole corpus, 9.1 -> 9.6 with pools;
    bench/results/data_scale-2026-12-03-v2 vs -v3 show the same on the whole data path), as OpenNMT-py's
    ``bucket_size`` and Marian's maxi-batches sort within a buffer of the corpus rather than all of it. The pools'
    rows are fixed, so the batch count stays the same in every epoch. The data module writes a large training
    split's tokenized rows in an order of shuffled blocks, so that each pool is a random sample of the corpus; a
    corpus of at most ``pool_size`` examples is one pool (the plan above).

    Under DDP every rank builds the same list of batches and takes every ``num_replicas``-th one, so ranks hold
    disjoint shards that together cover the data. When the number of batches does not divide evenly, the largest
    batches are split in two (never repeated or dropped), so every rank runs the same number of steps. Only when
    every batch is down to one example (fewer examples than ranks, e.g. a one-line predict file on two GPUs) are
    batches repeated from the start of the list, as torch's ``DistributedSampler`` pads; ``PredictionWriter`` keeps
    one result per index.

    Args:
        lengths: per example, the longer of its source and target token counts (list, numpy array or memmap,
            tensor, pyarrow array).
        max_tokens: padded-token budget of one batch on one side (source or target).
        max_sentences: optional cap on the number of pairs in a batch.
        pool_size: the number of consecutive examples planned together (see above); ``None``: the whole corpus.
        num_batches: split (or, failing that, repeat) batches until there are this many per epoch, at least; the
            sharded path (``hf_seq2seq_vit.data.streaming``) gives each rank its own lengths and the largest
            count of any rank, so that all ranks run the same number of steps.

    Example::

        >>> sampler = TokenBudgetBatchSampler([3, 9, 4, 8, 2], max_tokens=10, seed=0)
        >>> sampler.set_epoch(0)
        >>> sorted(i for batch in sampler for i in batch)
        [0, 1, 2, 3, 4]
        >>> all(len(batch) * max(sampler.lengths[i] for i in batch) <= 10 for batch in sampler)
        True
    """

    def __init__(
        self,
        lengths: Any,
        max_tokens: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        max_sentences: int | None = None,
        num_batches: int | None = None,
        pool_size: int | None = POOL_SIZE,
    ):
        self.lengths = as_length_array(lengths)
        if not len(self.lengths):
            raise ValueError("TokenBudgetBatchSampler got no examples; check that the split is not empty")
        too_long = int(self.lengths.max())
        if too_long > max_tokens:
            raise ValueError(
                f"An example has {too_long} tokens but max_tokens={max_tokens}: raise max_tokens or lower the "
                f"data module's max_length so that over-long pairs are filtered out"
            )
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        if max_sentences is not None and max_sentences < 1:
            raise ValueError(f"max_sentences must be >= 1 or None, got {max_sentences}")
        if pool_size is not None and pool_size < 1:
            raise ValueError(f"pool_size must be >= 1 or None, got {pool_size}")
        self.max_tokens, self.shuffle, self.seed = max_tokens, shuffle, seed
        self.num_replicas, self.rank, self.max_sentences = num_replicas, rank, max_sentences
        self.num_batches, self.pool_size = num_batches, pool_size
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, batches already consumed on this rank)
        self._plan: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None  # epoch, order, starts, sizes

    @property
    def sampler(self) -> TokenBudgetBatchSampler:
        # Lightning calls `set_epoch` on `dataloader.batch_sampler.sampler`; a batch sampler that shuffles by
        # itself points that attribute at itself to receive the epoch number.
        return self

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shuffle to produce (Lightning calls this at the start of each epoch)."""
        self.epoch = epoch

    def resume(self, epoch: int, batches_done: int) -> None:
        """Skip the first ``batches_done`` batches of ``epoch`` (continue a run checkpointed mid-epoch)."""
        self._resume = (epoch, batches_done)

    def rank_plan(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This rank's batches of the current epoch as arrays ``(order, starts, sizes)``.

        Batch ``i`` is ``order[starts[i]:starts[i] + sizes[i]]``.
        """
        if self._plan is None or self._plan[0] != self.epoch:
            order, starts, sizes = self._epoch_plan()
            self._plan = (self.epoch, order, starts[self.rank::self.num_replicas], sizes[self.rank::self.num_replicas])
        return self._plan[1:]

    def __iter__(self) -> Iterator[list[int]]:
        order, starts, sizes = self.rank_plan()
        first = 0
        if self._resume is not None and self._resume[0] == self.epoch:
            first = self._resume[1]
        self._resume = None
        for start, size in zip(starts[first:].tolist(), sizes[first:].tolist()):
            yield order[start:start + size].tolist()

    def __len__(self) -> int:
        return len(self.rank_plan()[1])

    def _epoch_plan(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        count = len(self.lengths)
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        pools = 1 if self.pool_size is None else -(-count // self.pool_size)
        if pools == 1:
            order, starts, sizes = self._pool_plan(0, count, generator)
        else:  # equal pools of consecutive rows, taken in a shuffled order (see the class docstring)
            bounds = np.linspace(0, count, pools + 1).astype(np.int64)
            visit = torch.randperm(pools, generator=generator).tolist() if self.shuffle else range(pools)
            order = np.empty(count, dtype=np.int64 if count >= 2**31 else np.int32)
            starts, sizes, filled = [], [], 0
            for pool in visit:
                pool_order, pool_starts, pool_sizes = self._pool_plan(int(bounds[pool]), int(bounds[pool + 1]),
                                                                      generator)
                order[filled:filled + len(pool_order)] = pool_order
                starts.append(pool_starts + filled)
                sizes.append(pool_sizes)
                filled += len(pool_order)
            starts, sizes = np.concatenate(starts), np.concatenate(sizes)
        target = max(len(starts), self.num_batches or 0)
        target += -target % self.num_replicas  # the next multiple of the number of ranks
        return (order, *self._split_to(starts, sizes, target))

    def _pool_plan(self, first: int, stop: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
        """Rows ``first:stop`` shuffled, stably sorted by length and cut into batches (in a shuffled order)."""
        count = stop - first
        # int32 indices where they fit: half the memory of int64 for the epoch's plan (torch draws the same
        # permutation for either dtype; the recorded batches in tests/data/test_data_scale.py pin it).
        wide = stop >= 2**31
        order = (torch.randperm(count, generator=generator, dtype=torch.int64 if wide else torch.int32).numpy()
                 if self.shuffle else np.arange(count, dtype=np.int64 if wide else np.int32))
        if first:
            order += first
        # A stable sort of shuffled indices: which equal-length pairs meet changes every epoch, while the sequence
        # of lengths (and so the batch count) stays the same. Keys of 16 bits or less sort by radix in O(n) (a
        # stable sort has one result whatever the algorithm).
        keys = self.lengths[order]
        if keys.size and int(keys.max()) < 2**15 and int(keys.min()) >= 0:
            keys = keys.astype(np.int16)
        ranks = np.argsort(keys, kind="stable")
        order, keys = order[ranks], keys[ranks]
        del ranks
        starts, sizes = cut_by_token_budget(keys, self.max_tokens, self.max_sentences)
        if self.shuffle:
            permutation = torch.randperm(len(starts), generator=generator).numpy()
            starts, sizes = starts[permutation], sizes[permutation]
        return order, starts, sizes

    @staticmethod
    def _split_to(starts: np.ndarray, sizes: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
        # One round per missing batch (fewer than num_replicas for plain DDP): split the (first) largest batch in
        # two halves in place.
        while len(starts) < target:
            largest = int(np.argmax(sizes))
            size = int(sizes[largest])
            if size < 2:  # every batch holds one example: repeat batches from the start (DistributedSampler's pad)
                repeat = np.arange(target - len(starts)) % len(starts)
                return np.concatenate([starts, starts[repeat]]), np.concatenate([sizes, sizes[repeat]])
            start, half = int(starts[largest]), size // 2
            starts = np.concatenate([starts[:largest], [start, start + half], starts[largest + 1:]])
            sizes = np.concatenate([sizes[:largest], [half, size - half], sizes[largest + 1:]])
        return starts, sizes
