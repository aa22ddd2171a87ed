"""CorpusBLEU equals sacrebleu.corpus_bleu; the LR schedules follow the paper's warm-up / inverse-sqrt shape."""

import pytest
import sacrebleu
import torch

from hf_seq2seq_vit.lightning.schedules import build_scheduler
from hf_seq2seq_vit.metrics import CorpusBLEU

HYPOTHESES = [
    "Ein Mann fährt Fahrrad.",
    "Zwei Hunde spielen im Schnee.",
    "Eine Frau in einem roten Kleid steht auf der Straße",
    "Kinder",
    "Ein Junge springt ins Wasser.",
]
REFERENCES = [
    "Ein Mann fährt ein Fahrrad.",
    "Zwei Hunde spielen im Schnee.",
    "Eine Frau in einem roten Kleid geht die Straße entlang.",
    "Drei Kinder spielen im Park.",
    "Ein kleiner Junge springt in das Wasser.",
]


def test_corpus_bleu_equals_sacrebleu_when_accumulated_over_batches():
    metric = CorpusBLEU()
    for start in range(0, len(HYPOTHESES), 2):  # batches of 2, 2, 1: the statistics are summed, not the scores
        metric.update(HYPOTHESES[start : start + 2], REFERENCES[start : start + 2])
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score
    assert float(metric.compute()) == pytest.approx(expected, abs=1e-9)
    assert 0 < expected < 100


def test_corpus_bleu_is_not_the_mean_of_batch_scores_and_resets():
    metric = CorpusBLEU()
    metric.update(HYPOTHESES[:2], REFERENCES[:2])
    first = float(metric.compute())
    metric.reset()
    metric.update(HYPOTHESES[2:], REFERENCES[2:])
    assert float(metric.compute()) == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES[2:], [REFERENCES[2:]]).score)
    assert first == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES[:2], [REFERENCES[:2]]).score)


def test_corpus_bleu_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        CorpusBLEU().update(["a", "b"], ["a"])


def _optimizer(lr=1.0):
    return torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=lr)


def test_inverse_sqrt_schedule_warms_up_then_decays_like_the_paper():
    optimizer = _optimizer()
    config = build_scheduler(optimizer, "inverse_sqrt", warmup_steps=100, total_steps=0)
    assert config["interval"] == "step"
    factor = config["scheduler"].lr_lambdas[0]
    # The paper: lrate ∝ min(step^-0.5, step * warmup^-1.5), normalised here to peak 1.0 at step == warmup.
    for step in (10, 50, 100, 400, 2500):
        paper = min(step**-0.5, step * 100**-1.5) / 100**-0.5
        assert factor(step) == pytest.approx(paper)


def test_cosine_schedule_ends_at_zero_and_bad_names_fail():
    factor = build_scheduler(_optimizer(), "cosine", warmup_steps=10, total_steps=110)["scheduler"].lr_lambdas[0]
    assert factor(10) == pytest.approx(1.0) and factor(60) == pytest.approx(0.5) and factor(110) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="Unknown schedule 'noam'; choose one of"):
        build_scheduler(_optimizer(), "noam", 10, 100)
    with pytest.raises(ValueError, match="needs total_steps"):
        build_scheduler(_optimizer(), "cosine", 10, 5)
