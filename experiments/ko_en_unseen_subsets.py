"""Score Korean->English models on the group-disjoint Tatoeba test split, whole and on the pairs an older model's
training split did not hold; the difference between two models with a paired-bootstrap interval.

The test split is `bundled:tatoeba-ko-en`'s (500 + 500 held out, split_seed 0); "seen" means in the training split of
`bundled:tatoeba-ko-en-2025` (the 3.8k file's row split, 300 + 300, split_seed 0), comparing sentences after NFKC and
whitespace folding (`hf_seq2seq_vit.data.korean.sentence_key`). Each model translates with its exported folder and
the decoding settings its checkpoint's contract gives (`generation_config_from_checkpoint`: what the export writes,
the beam search of `reproduce.py`'s test step); sacreBLEU corpus BLEU (13a) on detokenised cased output.
These are the numbers of README's Korean section and of `results/ko_en_tatoeba_2025_cpu.json` (`unseen_subsets`):

    OMP_NUM_THREADS=1 python experiments/ko_en_unseen_subsets.py outputs/unseen.json \\
        old=outputs/models/ko_en_tatoeba_2025_cpu:outputs/cpu/ko_en_tatoeba_2025/checkpoints/best-...ckpt \\
        new=outputs/models/ko_en_tatoeba_cpu:outputs/cpu/ko_en_tatoeba/checkpoints/best-...ckpt

With two models, the difference second - first is bootstrapped (1,000 resamples of the subset's pairs, seed 0).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch
from sacrebleu.metrics import BLEU

from hf_seq2seq_vit.data.korean import sentence_key
from hf_seq2seq_vit.data.translation import load_parallel_text
from hf_seq2seq_vit.export import load_exported, read_checkpoint
from hf_seq2seq_vit.export.exporters import generation_config_from_checkpoint


def subsets_of_the_test_split() -> tuple[list[str], list[str], dict[str, list[bool]]]:
    """Sources, references and, per subset name, which of the test pairs belong to it."""
    test = load_parallel_text("bundled:tatoeba-ko-en", "ko", "en", val_size=500, test_size=500, split_seed=0)["test"]
    old = load_parallel_text("bundled:tatoeba-ko-en-2025", "ko", "en", val_size=300, test_size=300,
                             split_seed=0)["train"]
    old_pairs = {(sentence_key(k), sentence_key(e)) for k, e in zip(old["ko"], old["en"])}
    old_ko, old_en = {sentence_key(k) for k in old["ko"]}, {sentence_key(e) for e in old["en"]}
    sources, references = list(test["ko"]), list(test["en"])
    pair_seen = [(sentence_key(k), sentence_key(e)) in old_pairs for k, e in zip(sources, references)]
    side_seen = [sentence_key(k) in old_ko or sentence_key(e) in old_en for k, e in zip(sources, references)]
    return sources, references, {
        "all": [True] * len(sources),
        "pair_in_old_train": pair_seen,
        "pair_not_in_old_train": [not seen for seen in pair_seen],
        "neither_side_in_old_train": [not seen for seen in side_seen],
    }


def translate(folder: str, checkpoint: str, sources: list[str], batch_size: int = 32) -> tuple[list[str], dict]:
    """The exported model's translations of ``sources`` with the checkpoint's decoding settings."""
    model, tokenizer = load_exported(folder)
    generation = generation_config_from_checkpoint(read_checkpoint(checkpoint), model)
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    hypotheses: list[str] = [""] * len(sources)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = tokenizer([sources[i] for i in rows], return_tensors="pt", padding=True)
            ids = model.eval().generate(**batch, generation_config=generation)
            for i, text in zip(rows, tokenizer.batch_decode(ids, skip_special_tokens=True)):
                hypotheses[i] = text
    settings = {name: getattr(generation, name) for name in ("num_beams", "max_length", "early_stopping")}
    return hypotheses, settings


def paired_bootstrap(first: list[str], second: list[str], references: list[str], resamples: int = 1000,
                     seed: int = 0) -> list[float]:
    """The 95% interval of corpus BLEU(second) - BLEU(first) over resamples of the pairs."""
    bleu, rng, differences = BLEU(), random.Random(seed), []
    rows = range(len(references))
    for _ in range(resamples):
        sample = [rng.choice(rows) for _ in rows]
        refs = [[references[i] for i in sample]]
        differences.append(bleu.corpus_score([second[i] for i in sample], refs).score
                           - bleu.corpus_score([first[i] for i in sample], refs).score)
    differences.sort()
    return [round(differences[int(0.025 * resamples) - 1], 2), round(differences[int(0.975 * resamples) - 1], 2)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", help="JSON file to write (scores, subsets, every hypothesis)")
    parser.add_argument("models", nargs="+", metavar="NAME=EXPORTED_FOLDER:CHECKPOINT")
    args = parser.parse_args(argv)
    models = {}
    for spec in args.models:
        name, _, paths = spec.partition("=")
        folder, _, checkpoint = paths.partition(":")
        if not (name and folder and checkpoint):
            parser.error(f"{spec!r} is not NAME=EXPORTED_FOLDER:CHECKPOINT")
        models[name] = (folder, checkpoint)
    torch.set_num_threads(1)
    sources, references, subsets = subsets_of_the_test_split()
    bleu = BLEU()
    result = {"subset_sizes": {name: sum(keep) for name, keep in subsets.items()}, "models": {}}
    for name, (folder, checkpoint) in models.items():
        hypotheses, settings = translate(folder, checkpoint, sources)
        scores = {}
        for subset, keep in subsets.items():
            rows = [i for i, k in enumerate(keep) if k]
            scores[subset] = round(bleu.corpus_score([hypotheses[i] for i in rows],
                                                     [[references[i] for i in rows]]).score, 2)
        result["models"][name] = {"folder": folder, "checkpoint": checkpoint, "generation": settings,
                                  "bleu": scores, "hypotheses": hypotheses}
        print(name, json.dumps(scores), flush=True)
    if len(models) == 2:
        (first, a), (second, b) = result["models"].items()
        result["difference"] = {"of": f"{second} - {first}", "bleu": {}, "ci95": {}}
        for subset, keep in subsets.items():
            rows = [i for i, k in enumerate(keep) if k]
            result["difference"]["bleu"][subset] = round(b["bleu"][subset] - a["bleu"][subset], 2)
            result["difference"]["ci95"][subset] = paired_bootstrap(
                [a["hypotheses"][i] for i in rows], [b["hypotheses"][i] for i in rows], [references[i] for i in rows])
        print(json.dumps(result["difference"]), flush=True)
    result.update(signature=str(bleu.get_signature()), sources=sources, references=references,
                  subsets=subsets)
    Path(args.output).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
