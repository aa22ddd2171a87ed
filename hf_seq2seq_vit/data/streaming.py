"""Sharded training data for corpora larger than memory: each DDP rank memory-maps only its own Arrow shards.

``TranslationDataModule(train_shards=N, shard_dir=...)`` tokenizes the training split once (``datasets.map``,
Arrow cache) and writes it as ``N`` Arrow files, example ``i`` going to shard ``i % N`` (so that an ordered corpus,
e.g. WMT's Europarl block followed by Common Crawl, reaches every rank), each with its lengths beside it as a
``.npy`` file, and a ``shards.json`` manifest written last (a half-written folder is never taken for a finished
one). Rank ``r`` of ``W`` then opens shards ``r, r + W, r + 2W, ...`` only: its text and ids stay on disk,
paged in by the operating system as batches touch them, so neither the corpus nor the other ranks' shards count
against a process's memory. Only lengths (4 bytes a pair) of every shard are read by every rank, to agree on
the number of batches per epoch (DDP ranks must run the same number of steps).

The layout of ``shard_dir``::

    shards.json                               # {"fingerprint", "num_shards", "rows": [...]}
    train-00000-of-00004.arrow                # an Arrow stream, loadable with datasets.Dataset.from_file
    train-00000-of-00004.lengths.npy          # int32 token lengths of that shard's rows, in row order
    ...
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import datasets
import numpy as np

from hf_seq2seq_vit.data.batching import cut_by_token_budget

__all__ = ["MANIFEST", "MappedPageBudget", "ShardedCorpus", "rank_shard_ids", "release_mapped_pages",
           "write_token_shards"]

MANIFEST = "shards.json"


_MADV_DONTNEED = 4  # <sys/mman.h> on Linux


def release_mapped_pages(paths: Iterable[str | os.PathLike]) -> int:
    """Hand back this process's resident pages of read-only memory-mapped files; returns the bytes of mappings advised.

    ``datasets`` memory-maps its Arrow files, and every page a pass over the data touches stays in the process's
    resident set (``RssFile``) as long as the file is mapped, so the RSS of a process that reads a corpus grows with
    the corpus although nothing is allocated (huggingface/datasets#4883). ``madvise(MADV_DONTNEED)`` on a read-only
    file mapping takes those pages out of this process only: they stay in the kernel's page cache while memory
    allows, the next access maps them again (a minor fault, or a read from disk after the kernel dropped them), and
    the data is the same. Only mappings without write permission are touched. Linux only; elsewhere a no-op.

    Example::

        >>> release_mapped_pages(f["filename"] for f in dataset.cache_files)  # doctest: +SKIP
    """
    if not sys.platform.startswith("linux"):
        return 0
    wanted = {os.path.realpath(path) for path in paths}
    if not wanted:
        return 0
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with open("/proc/self/maps") as maps:  # lines "start-end perms offset dev inode   path"
        text = maps.read()
    released = 0
    for path in wanted:  # found with str.find: a process with torch loaded maps over a thousand regions
        needle = f" {path}\n"
        at = text.find(needle)
        while at != -1:
            fields = text[text.rfind("\n", 0, at) + 1:at].split()
            if len(fields) == 5 and "w" not in fields[1]:
                start, end = (int(address, 16) for address in fields[0].split("-"))
                if madvise(start, end - start, _MADV_DONTNEED) == 0:
                    released += end - start
            at = text.find(needle, at + len(needle))
    return released


class MappedPageBudget:
    """Hand back the mapped pages of ``files`` (``release_mapped_pages``) each time this process's resident
    file-backed pages have grown by more than ``budget`` bytes since the last release; call it once per batch.

    A pass over a memory-mapped corpus that releases after a fixed number of rows either releases pages it is about
    to touch again (a small file: every release costs a refault of the pages in use) or lets a large file map a
    lot between releases (with the kernel's fault-around, one row read maps up to 64 KB around it). A budget in
    bytes bounds the pages mapped, whatever the file size and access order, and never releases while a file that
    fits in it is read. The check reads ``/proc/self/statm`` (its ``shared`` field: resident file-backed and shared
    memory pages), a few microseconds. Linux only; elsewhere a no-op.

    Example::

        >>> release = MappedPageBudget([f["filename"] for f in dataset.cache_files])  # doctest: +SKIP
        >>> for batch in batches:  # doctest: +SKIP
        ...     release()
    """

    BUDGET = 256 << 20  # bytes: a pool of 1M tokenized pairs (~130 MB, see batching.POOL_SIZE) stays mapped

    def __init__(self, files: Iterable[str | os.PathLike], budget: int | None = None):
        self.files = [str(path) for path in files]
        self.budget = self.BUDGET if budget is None else budget
        self.enabled = bool(self.files) and sys.platform.startswith("linux")
        self.page = os.sysconf("SC_PAGE_SIZE") if self.enabled else 0
        self.mark = self._file_backed() if self.enabled else 0
        self.releases = 0

    def _file_backed(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[2]) * self.page

    def __call__(self) -> bool:
        """Release if over budget; returns whether it did."""
        if not self.enabled or self._file_backed() - self.mark <= self.budget:
            return False
        release_mapped_pages(self.files)
        self.mark, self.releases = self._file_backed(), self.releases + 1
        return True

    def __getstate__(self) -> dict:  # a DataLoader worker or tokenizing process starts from its own resident set
        return {"files": self.files, "budget": self.budget}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["files"], state["budget"])


def _shard_name(index: int, count: int, suffix: str) -> str:
    return f"train-{index:05d}-of-{count:05d}{suffix}"


def rank_shard_ids(num_shards: int, rank: int, world_size: int) -> list[int]:
    """The shards rank ``rank`` of ``world_size`` reads: ``rank, rank + world_size, ...``.

    Example::

        >>> rank_shard_ids(8, rank=1, world_size=4)
        [1, 5]
    """
    if num_shards < world_size:
        raise ValueError(f"train_shards={num_shards} is fewer than the {world_size} DDP ranks: every rank needs a "
                         f"shard of its own; set train_shards to a multiple of the number of GPUs (e.g. "
                         f"{world_size * max(1, num_shards // world_size + 1)})")
    return list(range(rank, num_shards, world_size))


def write_token_shards(dataset: datasets.Dataset, lengths: np.ndarray, folder: str | os.PathLike, num_shards: int,
                       fingerprint: str) -> None:
    """Write a tokenized split as ``num_shards`` Arrow files (row ``i`` to shard ``i % num_shards``) + lengths.

    ``lengths`` holds the split's token length per row. The manifest is written last, through a temporary name.

    Example::

        >>> write_token_shards(tokenized, lengths, "outputs/wmt14/shards", 64, fingerprint="abc")  # doctest: +SKIP
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # stale shards of another tokenization are incomplete from now on
    rows = []
    for index in range(num_shards):
        part = dataset.shard(num_shards, index, contiguous=False)
        arrow = folder / _shard_name(index, num_shards, ".arrow")
        part.flatten_indices(cache_file_name=str(arrow), new_fingerprint=f"{fingerprint}-{index}-of-{num_shards}")
        part_lengths = np.ascontiguousarray(lengths[index::num_shards], dtype=np.int32)
        _save_npy(folder / _shard_name(index, num_shards, ".lengths.npy"), part_lengths)
        rows.append(len(part))
    manifest = {"fingerprint": fingerprint, "num_shards": num_shards, "rows": rows}
    temporary = folder / f"{MANIFEST}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(manifest, indent=1))
    os.replace(temporary, folder / MANIFEST)


def _save_npy(path: Path, array: np.ndarray) -> None:
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp.npy")
    np.save(temporary, array)
    os.replace(temporary, path)


class ShardedCorpus:
    """A finished ``shard_dir``: which shards a rank reads, their rows (memory-mapped) and lengths.

    Args:
        folder: the ``shard_dir`` written by ``write_token_shards``.
        fingerprint: when given, the manifest must carry it (else the shards belong to other data or another
            tokenizer and ``is_current`` is false).

    Example::

        >>> corpus = ShardedCorpus("outputs/wmt14/shards")                       # doctest: +SKIP
        >>> train, lengths = corpus.open(rank=0, world_size=8)                   # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike, fingerprint: str | None = None):
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        self.manifest = json.loads(path.read_text()) if path.is_file() else None
        self.is_current = self.manifest is not None and fingerprint in (None, self.manifest["fingerprint"])

    @property
    def num_shards(self) -> int:
        return int(self.manifest["num_shards"])

    def shard_files(self, rank: int, world_size: int) -> list[Path]:
        """The Arrow files rank ``rank`` reads."""
        return [self.folder / _shard_name(i, self.num_shards, ".arrow")
                for i in rank_shard_ids(self.num_shards, rank, world_size)]

    def lengths(self, rank: int, world_size: int) -> np.ndarray:
        """The token lengths of a rank's rows, in the order ``open`` concatenates them (memory-mapped for one shard)."""
        parts = [np.load(self.folder / _shard_name(i, self.num_shards, ".lengths.npy"), mmap_mode="r")
                 for i in rank_shard_ids(self.num_shards, rank, world_size)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def open(self, rank: int, world_size: int) -> tuple[datasets.Dataset, np.ndarray]:
        """This rank's rows (its shards memory-mapped and concatenated) and their lengths."""
        parts = [datasets.Dataset.from_file(str(path)) for path in self.shard_files(rank, world_size)]
        dataset = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
        return dataset, self.lengths(rank, world_size)

    def batches_per_epoch(self, world_size: int, max_tokens: int, max_sentences: int | None = None) -> int:
        """The most token-budget batches any rank cuts from its shards (the same in every epoch: see the sampler)."""
        counts = []
        for rank in range(world_size):
            lengths = np.sort(self.lengths(rank, world_size), kind="stable")
            counts.append(len(cut_by_token_budget(lengths, max_tokens, max_sentences)[0]))
        return max(counts)
