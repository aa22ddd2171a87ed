"""Shared fixtures: tiny configs, a tokenizer trained once per session on the bundled Multi30k, data paths."""

import gzip
import os
from pathlib import Path

import pytest
import torch

# No test may reach the Hugging Face Hub: every model, tokenizer and metric is built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"  # the files tests read (tests/fixtures/README.md)
BUNDLED = REPO / "hf_seq2seq_vit" / "bundled"
SHARED_DATA = REPO.parent / "shared" / "data"


def read_lines(path: Path, limit: int | None = None) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle]
    return lines[:limit] if limit else lines


@pytest.fixture(scope="session")
def multi30k_pairs() -> list[tuple[str, str]]:
    """The first 2,000 bundled Multi30k (English, German) training pairs."""
    en = read_lines(BUNDLED / "multi30k" / "train.en.gz", 2000)
    de = read_lines(BUNDLED / "multi30k" / "train.de.gz", 2000)
    return list(zip(en, de))


@pytest.fixture(scope="session")
def tokenizer(multi30k_pairs):
    """A joint 400-token BPE tokenizer over English and German (pad 0, <s> 1, </s> 2, <unk> 3)."""
    from hf_seq2seq_vit.tokenization import train_tokenizer

    texts = [text for pair in multi30k_pairs for text in pair]
    return train_tokenizer(texts=texts, vocab_size=400)


def tiny_config(**overrides):
    from hf_seq2seq_vit import Seq2SeqTransformerConfig

    sizes = dict(
        vocab_size=400, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
        dropout=0.0,
    )
    sizes.update(overrides)
    return Seq2SeqTransformerConfig(**sizes)


@pytest.fixture
def tiny_seq2seq():
    from hf_seq2seq_vit import Seq2SeqTransformerForConditionalGeneration

    torch.manual_seed(0)
    return Seq2SeqTransformerForConditionalGeneration(tiny_config()).eval()
