"""Tatoeba Korean–English: read the sentence-pair export and split it by connected group.

Tatoeba links sentences many-to-many: one Korean sentence can have several English translations and one English
sentence several Korean ones. A split by row would put "나는 학생이다 → I am a student." in training and
"나는 학생이다 → I'm a student." in test, so the test would measure memory, not translation. Here every pair is an
edge between its Korean and its English sentence; the connected components of that graph (found with union-find)
are the groups, and a group goes whole into train, validation or test. No Korean and no English sentence is then in
two splits (sentences are compared after the tokenizer's own normalisation: NFKC, whitespace folded).

The export (``tatoeba-2026-05-13.kor-eng.tsv.gz``, CC BY 2.0 FR, see ``bundled/korean-english/PROVENANCE.md``) has
no header and four columns, ``kor_id <TAB> korean <TAB> eng_id <TAB> english``; the ids are Tatoeba sentence ids
(tatoeba.org/sentences/show/<id>) and are kept as columns for attribution.

Example::

    >>> from hf_seq2seq_vit.data.korean import TATOEBA_FILE, read_tatoeba_pairs, split_by_group
    >>> pairs = read_tatoeba_pairs(TATOEBA_FILE)
    >>> len(pairs), pairs[0]["kor_id"]
    (11443, 5350)
    >>> splits = split_by_group(pairs, val_size=500, test_size=500, seed=0)
    >>> [len(splits[s]) for s in ("train", "validation", "test")]
    [10443, 500, 500]
"""

from __future__ import annotations

import os
import random
import unicodedata
from pathlib import Path

from hf_seq2seq_vit.tokenization import read_corpus_lines

TATOEBA_FILE = Path(__file__).resolve().parents[1] / "bundled" / "korean-english" / "tatoeba-2026-05-13.kor-eng.tsv.gz"
TATOEBA_COLUMNS = ("kor_id", "ko", "eng_id", "en")

__all__ = ["TATOEBA_COLUMNS", "TATOEBA_FILE", "connected_groups", "read_tatoeba_pairs", "sentence_key",
           "split_by_group"]


def sentence_key(text: str) -> str:
    """The form two sentences are compared in: NFKC and whitespace folded, as the tokenizer sees them.

    Example::

        >>> sentence_key("I  like\\tapples. ") == sentence_key("I like apples.")
        True
    """
    return " ".join(unicodedata.normalize("NFKC", text).split())


def read_tatoeba_pairs(path: str | os.PathLike) -> list[dict]:
    """Rows of a Tatoeba sentence-pair export (``kor_id, korean, eng_id, english``; BOM and CRLF allowed).

    Returns one dict per row with the keys ``kor_id`` and ``eng_id`` (ints) and ``ko`` and ``en`` (text). A row
    without four fields, a non-numeric id or an empty sentence is an error naming the file and the line.

    Example::

        >>> read_tatoeba_pairs(TATOEBA_FILE)[0]
        {'kor_id': 5350, 'ko': '뭔가 해보자!', 'eng_id': 1276, 'en': "Let's try something."}
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No Tatoeba export at {path!r}; expected a TSV kor_id<TAB>korean<TAB>eng_id<TAB>english")
    pairs = []
    for number, line in enumerate(read_corpus_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise ValueError(f"{path!r}, line {number}: {len(fields)} tab-separated fields, expected 4 "
                             "(kor_id, korean, eng_id, english)")
        kor_id, ko, eng_id, en = fields
        if not (kor_id.strip().isdigit() and eng_id.strip().isdigit()):
            raise ValueError(f"{path!r}, line {number}: the ids {kor_id!r} and {eng_id!r} must be Tatoeba sentence "
                             "numbers (columns 1 and 3)")
        if not ko.strip() or not en.strip():
            raise ValueError(f"{path!r}, line {number}: an empty Korean or English sentence")
        pairs.append({"kor_id": int(kor_id), "ko": ko.strip(), "eng_id": int(eng_id), "en": en.strip()})
    if not pairs:
        raise ValueError(f"{path!r} has no sentence pairs")
    return pairs


def connected_groups(pairs: list[dict], src: str = "ko", tgt: str = "en") -> list[list[int]]:
    """Indices of ``pairs`` grouped by connected component of the sentence graph (union-find).

    Two pairs are in one group when they share a ``src`` or a ``tgt`` sentence (compared by :func:`sentence_key`),
    directly or through a chain of pairs. Groups are listed by their first pair's index; each group's indices ascend.

    Example::

        >>> pairs = [{"ko": "a", "en": "A"}, {"ko": "b", "en": "B"}, {"ko": "a", "en": "A2"}, {"ko": "c", "en": "A2"}]
        >>> connected_groups(pairs)
        [[0, 2, 3], [1]]
    """
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(node):
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    for pair in pairs:
        a, b = (src, sentence_key(pair[src])), (tgt, sentence_key(pair[tgt]))
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[root_b] = root_a
    groups: dict[tuple[str, str], list[int]] = {}
    for index, pair in enumerate(pairs):
        groups.setdefault(find((src, sentence_key(pair[src]))), []).append(index)
    return list(groups.values())


def split_by_group(pairs: list[dict], val_size: int, test_size: int, seed: int = 0, src: str = "ko",
                   tgt: str = "en") -> dict[str, list[dict]]:
    """Split ``pairs`` into train / validation / test with whole connected groups, after a fixed-seed shuffle.

    The groups are shuffled with ``random.Random(seed)``; walking them in that order, a group goes to validation
    while it fits in the ``val_size`` pairs still free there, else to test while it fits in ``test_size``, else to
    training. Validation and test get exactly ``val_size`` / ``test_size`` pairs when there are enough small groups
    (Tatoeba's are mostly one to three pairs); a group larger than the room left always trains. Pairs keep their
    file order within each split. The result depends only on the pairs and ``seed``.

    Example::

        >>> pairs = [{"ko": f"k{i}", "en": f"e{i}"} for i in range(10)]
        >>> {split: len(rows) for split, rows in split_by_group(pairs, val_size=2, test_size=3).items()}
        {'train': 5, 'validation': 2, 'test': 3}
    """
    for name, size in (("val_size", val_size), ("test_size", test_size)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"{name}={size!r} is invalid: give the number of held-out pairs, an int >= 0")
    if val_size + test_size >= len(pairs):
        raise ValueError(f"val_size + test_size = {val_size + test_size} leaves no training pairs out of {len(pairs)}")
    groups = connected_groups(pairs, src, tgt)
    random.Random(seed).shuffle(groups)
    room = {"validation": val_size, "test": test_size}
    chosen: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for group in groups:
        split = next((name for name in ("validation", "test") if len(group) <= room[name]), "train")
        if split != "train":
            room[split] -= len(group)
        chosen[split].extend(group)
    return {split: [pairs[i] for i in sorted(indices)] for split, indices in chosen.items()}
