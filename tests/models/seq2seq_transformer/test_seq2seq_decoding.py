"""Every way of running greedy search gives the same tokens: no cache, transformers' dynamic cache, its static cache,
and the static cache with a compiled forward; with padded sources and rows that end at different steps.

Where rows end is fixed by construction (a logits processor puts all the probability on `</s>` at a chosen step of
each row), never by what a trained model happens to emit, so the test means the same on every CPU.
"""

import pytest
import torch
from conftest import tiny_config
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.generation.configuration_utils import CompileConfig

from hf_seq2seq_vit import Seq2SeqTransformerForConditionalGeneration

EOS, PAD, START = 2, 0, 1
SRC = torch.tensor([[5, 6, 7, 8, 9, 10, 2], [11, 12, 2, 0, 0, 0, 0], [13, 14, 15, 16, 2, 0, 0], [17, 2, 0, 0, 0, 0, 0]])
SRC_MASK = (SRC != PAD).long()
END_AT = [3, 0, 6, None]  # the new token at which each row emits </s> (None: never, it runs to max_new_tokens)


class EndAt(LogitsProcessor):
    """Forces `</s>` as row r's new token number `steps[r]` (0-based), and forbids it anywhere else."""

    def __init__(self, steps: list[int | None], prompt_length: int = 1):
        self.steps, self.prompt_length = steps, prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        step = input_ids.shape[1] - self.prompt_length
        scores = scores.clone()
        scores[:, EOS] = -float("inf")
        for row, end in enumerate(self.steps):
            if end == step:
                scores[row] = -float("inf")
                scores[row, EOS] = 0.0
        return scores


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    # init_std 0.5: an untrained model whose greedy tokens vary (the default init repeats one token)
    return Seq2SeqTransformerForConditionalGeneration(tiny_config(init_std=0.5)).eval()


def greedy(model, max_new_tokens=10, ends=END_AT, src=SRC, mask=SRC_MASK, **options):
    return model.generate(src, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                          logits_processor=LogitsProcessorList([EndAt(ends)]), **options)


def test_rows_end_where_constructed_and_are_padded_after(model):
    out = greedy(model)
    assert out.shape == (4, 11)  # the last row never ends: 1 + max_new_tokens
    assert (out[:, 0] == START).all()
    for row, end in enumerate(END_AT):
        tokens = out[row, 1:].tolist()
        if end is None:
            assert EOS not in tokens and PAD not in tokens
        else:
            assert tokens[end] == EOS and EOS not in tokens[:end] and PAD not in tokens[:end]
            assert all(token == PAD for token in tokens[end + 1:])
    assert len(set(out[:, 1:].flatten().tolist()) - {EOS, PAD}) >= 3, "varied tokens, not one repeated id"


@pytest.mark.parametrize("normalize_before", [False, True])
def test_dynamic_cache_no_cache_and_static_cache_agree(normalize_before):
    torch.manual_seed(0)
    model = Seq2SeqTransformerForConditionalGeneration(
        tiny_config(init_std=0.5, normalize_before=normalize_before, position_embedding_type="learned")).eval()
    expected = greedy(model, use_cache=False)
    assert torch.equal(greedy(model), expected)
    assert torch.equal(greedy(model, cache_implementation="static"), expected)


def test_static_cache_with_compiled_forward_agrees(model):
    expected = greedy(model)
    compile_config = CompileConfig(fullgraph=True, dynamic=True, backend="aot_eager", mode=None)
    compile_config._compile_all_devices = True
    torch._dynamo.reset()
    try:
        assert torch.equal(greedy(model, cache_implementation="static", compile_config=compile_config), expected)
    finally:
        torch._dynamo.reset()


def test_batch_equals_each_row_alone(model):
    together = greedy(model, ends=[None] * 4)
    for row in range(4):
        length = int(SRC_MASK[row].sum())
        alone = greedy(model, ends=[None], src=SRC[row : row + 1, :length], mask=SRC_MASK[row : row + 1, :length])
        assert torch.equal(alone[0], together[row]), row


def test_every_row_ending_at_its_first_token_stops_generation(model):
    out = greedy(model, max_new_tokens=20, ends=[0, 0, 0, 0])
    assert out.tolist() == [[START, EOS]] * 4


@pytest.mark.parametrize("options", [dict(num_beams=3), dict(num_beams=3, num_return_sequences=2)])
def test_beam_search_with_and_without_cache_agree(model, options):
    cached = model.generate(SRC, attention_mask=SRC_MASK, max_new_tokens=8, **options)
    uncached = model.generate(SRC, attention_mask=SRC_MASK, max_new_tokens=8, use_cache=False, **options)
    assert torch.equal(cached, uncached)


def test_generation_past_the_position_table_raises(model):  # max_position_embeddings=64
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        model.generate(SRC, attention_mask=SRC_MASK, max_new_tokens=100, eos_token_id=None)
