"""Record TokenBudgetBatchSampler's and TranslationDataModule's batches on fixed inputs (tests/test_data_scale.py).

Run at commit 1ef1728, before #19 rewrote the sampler on numpy arrays, to pin what "the same batches" means:
    .venv/bin/python tests/data/make_token_budget_batches.py tests/data/token_budget_batches_1ef1728.json
(The 108 sampler cases: three corpora x three budgets x shuffle on/off x 1-3 ranks x epochs 0 and 3.)
"""
import hashlib
import json
import sys

import numpy as np

from hf_seq2seq_vit.data import TranslationDataModule
from hf_seq2seq_vit.data.batching import TokenBudgetBatchSampler


def digest(batches) -> str:
    return hashlib.sha256(json.dumps(batches).encode()).hexdigest()


def sampler_cases():
    rng = np.random.default_rng(19)
    corpora = {
        "uniform_2_60_x5000": rng.integers(2, 61, 5000).tolist(),
        "zipf_like_x3000": np.minimum(rng.zipf(1.6, 3000) + 3, 120).tolist(),
        "tiny_x7": [3, 9, 4, 8, 2, 9, 1],
    }
    for name, lengths in corpora.items():
        for options in (dict(max_tokens=512), dict(max_tokens=1024, max_sentences=16), dict(max_tokens=128)):
            if max(lengths) > options["max_tokens"]:
                continue
            for shuffle in (True, False):
                for replicas in (1, 2, 3):
                    for epoch in (0, 3):
                        options_ = dict(options, shuffle=shuffle, seed=7, num_replicas=replicas)
                        ranks = []
                        for rank in range(replicas):
                            sampler = TokenBudgetBatchSampler(lengths, rank=rank, **options_)
                            sampler.set_epoch(epoch)
                            ranks.append(list(sampler))
                        yield {"corpus": name, "options": options_, "epoch": epoch, "sha256": digest(ranks),
                               "batches": ranks if name == "tiny_x7" else None}


def datamodule_case():
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=3000, max_val_examples=200,
                               tokenizer_vocab_size=600, max_length=24, max_tokens=600, seed=5)
    dm.setup("fit")
    out = {"num_filtered": dm.num_filtered}
    for epoch in (0, 1):
        sampler = dm._sampler("train", dm.max_tokens, shuffle=True)
        sampler.set_epoch(epoch)
        batches = list(sampler)
        out[f"train_epoch{epoch}"], out[f"train_epoch{epoch}_first"] = digest(batches), batches[0]
    out["validation"] = digest(list(dm._sampler("validation", dm.eval_max_tokens, shuffle=False)))
    out["lengths"] = digest(list(dm.datasets["train"]["length"]))
    return out


if __name__ == "__main__":
    record = {"recorded_with": "TokenBudgetBatchSampler and TranslationDataModule at commit 1ef1728 (before #19's "
                               "numpy sampler)", "sampler": list(sampler_cases()), "datamodule": datamodule_case()}
    with open(sys.argv[1], "w") as handle:
        json.dump(record, handle, separators=(",", ":"))
