"""The fast greedy path (`StaticGreedyDecoder`) gives exactly the tokens of transformers' generic loop, and takes
over only when it is the same search."""

import pytest
import torch
from conftest import tiny_config

from hf_seq2seq_vit import Seq2SeqTransformerForConditionalGeneration
from hf_seq2seq_vit.models.seq2seq_transformer import generation_seq2seq_transformer as generation


@pytest.fixture(scope="module")
def trained(tokenizer, multi30k_pairs):
    """A tiny translator trained for a few steps (varied outputs, unlike a random init, which repeats one token)."""
    pairs = multi30k_pairs[:32]
    batch = tokenizer([en for en, _ in pairs], text_target=[de for _, de in pairs], padding=True,
                      return_tensors="pt")
    batch["labels"] = batch["labels"].masked_fill(batch["labels"] == tokenizer.pad_token_id, -100)
    torch.manual_seed(0)
    model = Seq2SeqTransformerForConditionalGeneration(tiny_config(vocab_size=len(tokenizer)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    source = tokenizer([en for en, _ in multi30k_pairs[100:106]], padding=True, return_tensors="pt")
    assert not source["attention_mask"].all(), "the test needs padded sources"
    return model.eval(), source["input_ids"], source["attention_mask"]


@pytest.fixture
def fast_calls(monkeypatch):
    """Counts how often generate() handed the search to StaticGreedyDecoder."""
    calls = []
    original = generation.StaticGreedyDecoder.generate

    def counted(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(generation.StaticGreedyDecoder, "generate", counted)
    return calls


def generic(model, *args, **kwargs):
    model.fast_greedy = False
    try:
        return model.generate(*args, **kwargs)
    finally:
        model.fast_greedy = True


def test_fast_greedy_equals_generic_loop_with_padding_and_eos(trained, fast_calls):
    model, ids, mask = trained
    no_eos = generic(model, ids, attention_mask=mask, max_new_tokens=20, eos_token_id=None)
    assert len(set(no_eos[:, 1:].flatten().tolist())) >= 5, "the test needs varied tokens"
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=20, eos_token_id=None), no_eos)
    # choose as end-of-sequence a token that some rows emit mid-way, so that rows finish at different steps
    eos = int(no_eos[0, 6])
    expected = generic(model, ids, attention_mask=mask, max_new_tokens=20, eos_token_id=eos)
    fast = model.generate(ids, attention_mask=mask, max_new_tokens=20, eos_token_id=eos)
    assert torch.equal(fast, expected)
    assert (fast == model.config.pad_token_id).any(), "some rows should have finished and been padded"
    assert len(fast_calls) == 2
    assert fast_calls[1].keys[0].shape[0] < ids.shape[0], "finished rows should have left the buffers"
    # and the model's own </s>, with the default generation settings
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=30),
                       generic(model, ids, attention_mask=mask, max_new_tokens=30))


def test_pre_norm_and_learned_positions(tokenizer, fast_calls):
    torch.manual_seed(0)
    model = Seq2SeqTransformerForConditionalGeneration(
        tiny_config(normalize_before=True, position_embedding_type="learned", init_std=0.5)).eval()
    ids = tokenizer(["A man rides a bike.", "Two dogs."], padding=True, return_tensors="pt")
    expected = generic(model, **ids, max_new_tokens=12, eos_token_id=None)
    assert torch.equal(model.generate(**ids, max_new_tokens=12, eos_token_id=None), expected)
    assert len(fast_calls) == 1


def test_fast_greedy_stops_when_every_row_has_finished(trained, fast_calls):
    model, ids, mask = trained
    first = generic(model, ids, attention_mask=mask, max_new_tokens=20, eos_token_id=None)[:, 1]
    eos = first.tolist()  # every row ends at its first token
    expected = generic(model, ids, attention_mask=mask, max_new_tokens=20, eos_token_id=eos)
    fast = model.generate(ids, attention_mask=mask, max_new_tokens=20, eos_token_id=eos)
    assert fast.shape == expected.shape == (6, 2) and torch.equal(fast, expected)
    assert len(fast_calls) == 1


def test_full_width_step_for_compilation_gives_the_same_tokens(trained):
    model, ids, mask = trained
    expected = generic(model, ids, attention_mask=mask, max_new_tokens=15, eos_token_id=None)
    decoder = generation.StaticGreedyDecoder(model, ids, mask, max_new_tokens=15, eos_token_id=None, full_width=True)
    assert torch.equal(decoder.generate(), expected)


def test_compiled_greedy_step_gives_the_same_tokens(trained, fast_calls):
    model, ids, mask = trained
    expected = generic(model, ids, attention_mask=mask, max_new_tokens=12, eos_token_id=None)
    torch._dynamo.reset()
    # aot_eager traces the step through dynamo and AOTAutograd (in-place cache writes included) without a C++
    # compiler; on a GPU, mode="reduce-overhead" adds inductor and CUDA graphs on the same fixed-shape step.
    model.compile_greedy_step(backend="aot_eager", fullgraph=True)
    try:
        compiled = model.generate(ids, attention_mask=mask, max_new_tokens=12, eos_token_id=None)
    finally:
        model._greedy_step_compile_kwargs = None
        torch._dynamo.reset()
    assert torch.equal(compiled, expected)
    assert len(fast_calls) == 1 and fast_calls[0].full_width


@pytest.mark.parametrize(
    "options",
    [dict(num_beams=3), dict(num_beams=3, num_return_sequences=2), dict(do_sample=True, top_k=5),
     dict(repetition_penalty=1.3), dict(min_new_tokens=10), dict(no_repeat_ngram_size=2),
     dict(output_scores=True, return_dict_in_generate=True)],
)
def test_other_searches_keep_the_generic_loop(trained, options, fast_calls):
    model, ids, mask = trained
    torch.manual_seed(5)
    got = model.generate(ids, attention_mask=mask, max_new_tokens=10, **options)
    torch.manual_seed(5)
    expected = generic(model, ids, attention_mask=mask, max_new_tokens=10, **options)
    if isinstance(got, torch.Tensor):
        assert torch.equal(got, expected)
    else:
        assert torch.equal(got.sequences, expected.sequences) and len(got.scores) == len(expected.scores)
    assert fast_calls == []


def test_eager_attention_and_training_mode_keep_the_generic_loop(trained, fast_calls):
    model, ids, mask = trained
    model.set_attn_implementation("eager")
    model.generate(ids, attention_mask=mask, max_new_tokens=5)
    model.set_attn_implementation("sdpa")
    model.train()
    model.generate(ids, attention_mask=mask, max_new_tokens=5)
    model.eval()
    assert fast_calls == []


def test_fast_greedy_raises_like_the_decoder_past_the_position_table(trained):
    model, ids, mask = trained  # max_position_embeddings=64
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        model.generate(ids, attention_mask=mask, max_new_tokens=100, eos_token_id=None)


def test_fused_qkv_is_not_saved(trained, tmp_path):
    model, ids, mask = trained
    expected = model.generate(ids, attention_mask=mask, max_new_tokens=8)
    model.save_pretrained(tmp_path)
    loaded = Seq2SeqTransformerForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert set(loaded.state_dict()) == set(model.state_dict())
    assert not any("qkv" in key for key in loaded.state_dict())
    assert torch.equal(loaded.generate(ids, attention_mask=mask, max_new_tokens=8), expected)
