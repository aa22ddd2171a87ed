"""Corpus BLEU exactly as ``sacrebleu.corpus_bleu`` computes it, accumulated over batches and DDP ranks.

BLEU is a corpus-level score: averaging per-batch BLEU would be wrong. sacreBLEU's score is a function of
summed n-gram statistics (matches and totals per order, hypothesis and reference lengths), so each batch adds
its statistics, ``torchmetrics`` sums them across ranks, and ``compute`` turns the sums into BLEU with sacreBLEU's
own formula and defaults (13a tokenisation, ``exp`` smoothing). It runs offline (no ``evaluate.load`` fetch).
"""

from __future__ import annotations

import torch
from sacrebleu.metrics import BLEU
from torchmetrics import Metric

__all__ = ["CorpusBLEU"]


class CorpusBLEU(Metric):
    """sacreBLEU corpus BLEU (0-100) of detokenized hypotheses against one reference each.

    Example::

        >>> bleu = CorpusBLEU()
        >>> bleu.update(["The cat sat on the mat."], ["The cat sat on the mat."])
        >>> round(float(bleu.compute()), 2)
        100.0
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, max_ngram_order: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.bleu = BLEU(max_ngram_order=max_ngram_order)
        # float64 so that counts over millions of n-grams stay exact when summed across ranks.
        for name in ("correct", "total"):
            self.add_state(name, torch.zeros(max_ngram_order, dtype=torch.float64), dist_reduce_fx="sum")
        for name in ("sys_len", "ref_len"):
            self.add_state(name, torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, hypotheses: list[str], references: list[str]) -> None:
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
        if not hypotheses:
            return
        score = self.bleu.corpus_score(list(hypotheses), [list(references)])
        self.correct += torch.tensor(score.counts, dtype=torch.float64, device=self.device)
        self.total += torch.tensor(score.totals, dtype=torch.float64, device=self.device)
        self.sys_len += score.sys_len
        self.ref_len += score.ref_len

    def compute(self) -> torch.Tensor:
        score = self.bleu.compute_bleu(
            [int(c) for c in self.correct.tolist()], [int(t) for t in self.total.tolist()],
            int(self.sys_len), int(self.ref_len), smooth_method=self.bleu.smooth_method,
            smooth_value=self.bleu.smooth_value, effective_order=self.bleu.effective_order,
            max_ngram_order=self.bleu.max_ngram_order,
        )
        return torch.tensor(score.score, dtype=torch.float64)
