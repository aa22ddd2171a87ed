"""Batches by token count: similar-length pairs grouped together so that padding stays small.

The Transformer paper batches "by approximate sequence length ... approximately 25000 source tokens and 25000
target tokens" per step. A fixed number of sentences would waste most of a batch on padding when one long sentence
sits among short ones, and would make the memory use swing with sentence length; a token budget keeps both steady.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

__all__ = ["TokenBudgetBatchSampler"]


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

    Under DDP every rank builds the same list of batches and takes every ``num_replicas``-th one, so ranks hold
    disjoint shards that together cover the data. When the number of batches does not divide evenly, the largest
    batches are split in two (never repeated or dropped), so every rank runs the same number of steps.

    Args:
        lengths: per example, the longer of its source and target token counts.
        max_tokens: padded-token budget of one batch on one side (source or target).
        max_sentences: optional cap on the number of pairs in a batch.

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
        lengths: Sequence[int],
        max_tokens: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        max_sentences: int | None = None,
    ):
        self.lengths = [int(length) for length in lengths]
        if not self.lengths:
            raise ValueError("TokenBudgetBatchSampler got no examples; check that the split is not empty")
        too_long = max(self.lengths)
        if too_long > max_tokens:
            raise ValueError(
                f"An example has {too_long} tokens but max_tokens={max_tokens}: raise max_tokens or lower the "
                f"data module's max_length so that over-long pairs are filtered out"
            )
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        self.max_tokens, self.shuffle, self.seed = max_tokens, shuffle, seed
        self.num_replicas, self.rank, self.max_sentences = num_replicas, rank, max_sentences
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, batches already consumed on this rank)
        self._cache: tuple[int, list[list[int]]] | None = None

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

    def rank_batches(self) -> list[list[int]]:
        """This rank's batches for the current epoch, in order."""
        if self._cache is None or self._cache[0] != self.epoch:
            self._cache = (self.epoch, self._all_batches()[self.rank :: self.num_replicas])
        return self._cache[1]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.rank_batches()
        if self._resume is not None and self._resume[0] == self.epoch:
            batches = batches[self._resume[1] :]
        self._resume = None
        yield from batches

    def __len__(self) -> int:
        return len(self.rank_batches())

    def _all_batches(self) -> list[list[int]]:
        lengths = torch.tensor(self.lengths)
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(lengths), generator=generator) if self.shuffle else torch.arange(len(lengths))
        # A stable sort of shuffled indices: which equal-length pairs meet changes every epoch, while the sequence
        # of lengths (and so the batch count) stays the same.
        order = order[torch.sort(lengths[order], stable=True).indices]
        batches = self._cut(order.tolist())
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return self._split_until_divisible(batches)

    def _cut(self, order: list[int]) -> list[list[int]]:
        batches, batch, longest = [], [], 0
        for index in order:
            new_longest = max(longest, self.lengths[index])
            full = self.max_sentences is not None and len(batch) >= self.max_sentences
            if batch and (full or (len(batch) + 1) * new_longest > self.max_tokens):
                batches.append(batch)
                batch, new_longest = [], self.lengths[index]
            batch.append(index)
            longest = new_longest
        return batches + [batch] if batch else batches

    def _split_until_divisible(self, batches: list[list[int]]) -> list[list[int]]:
        if len(self.lengths) < self.num_replicas:
            raise ValueError(f"{len(self.lengths)} examples cannot be shared by {self.num_replicas} ranks")
        while len(batches) % self.num_replicas:
            largest = max(range(len(batches)), key=lambda i: len(batches[i]))
            batch = batches[largest]
            batches[largest : largest + 1] = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
        return batches
