"""The encoder–decoder behaves like every transformers model: recorded attentions and hidden states, typed outputs
and `return_dict=False` tuples, standalone encoder/decoder stacks, tied weights that save and load exactly."""

import copy
import inspect
import warnings

import pytest
import torch
from conftest import tiny_config
from safetensors import safe_open
from safetensors.torch import save_file
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import (
    BaseModelOutput,
    BaseModelOutputWithPastAndCrossAttentions,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
)

from hf_seq2seq_vit import Seq2SeqTransformerForConditionalGeneration, Seq2SeqTransformerModel
from hf_seq2seq_vit.models.seq2seq_transformer.modeling_seq2seq_transformer import (
    Seq2SeqTransformerDecoder,
    Seq2SeqTransformerEncoder,
)

SRC = torch.tensor([[5, 6, 7, 8, 2], [9, 10, 2, 0, 0]])
SRC_MASK = (SRC != 0).long()
TGT = torch.tensor([[1, 11, 12, 13], [1, 14, 2, 0]])
TGT_MASK = (TGT != 0).long()
LABELS = torch.tensor([[11, 12, 13, 2], [14, 2, -100, -100]])
LAYERS, HEADS = 2, 4  # tiny_config
# The four ways the embeddings can be laid out: one vocabulary or a separate target one, the output projection tied
# to the (target) embedding or not.
EMBEDDING_LAYOUTS = [
    dict(),
    dict(tie_word_embeddings=False),
    dict(share_encoder_decoder_embeddings=False, tgt_vocab_size=300),
    dict(share_encoder_decoder_embeddings=False, tgt_vocab_size=300, tie_word_embeddings=False),
]


def build(cls=Seq2SeqTransformerForConditionalGeneration, **overrides):
    torch.manual_seed(0)
    return cls(tiny_config(**overrides)).eval()


def check_recorded(out, src_len=5, tgt_len=4):
    """Every attention and hidden-state field is filled with one entry per layer (+ embeddings for hidden states)."""
    assert len(out.encoder_attentions) == len(out.decoder_attentions) == len(out.cross_attentions) == LAYERS
    assert len(out.encoder_hidden_states) == len(out.decoder_hidden_states) == LAYERS + 1
    assert out.encoder_attentions[0].shape == (2, HEADS, src_len, src_len)
    assert out.decoder_attentions[0].shape == (2, HEADS, tgt_len, tgt_len)
    assert out.cross_attentions[0].shape == (2, HEADS, tgt_len, src_len)
    # probabilities: rows sum to one, no weight on padded source keys, none on future target positions
    torch.testing.assert_close(out.cross_attentions[1].sum(-1), torch.ones(2, HEADS, tgt_len))
    assert out.cross_attentions[1][1, :, :, 3:].abs().max() == 0
    assert torch.triu(out.decoder_attentions[1][0], diagonal=1).abs().max() == 0
    torch.testing.assert_close(out.encoder_hidden_states[-1], out.encoder_last_hidden_state)


# ------------------------------------------------------------------------------ #13.1 attentions and hidden states
@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_attentions_and_hidden_states_as_arguments(implementation):
    model = build()
    model.set_attn_implementation(implementation)
    out = model(SRC, SRC_MASK, decoder_input_ids=TGT, output_attentions=True, output_hidden_states=True)
    check_recorded(out)
    hidden = model.model(SRC, SRC_MASK, decoder_input_ids=TGT, output_hidden_states=True)
    torch.testing.assert_close(hidden.decoder_hidden_states[-1], hidden.last_hidden_state)
    assert hidden.encoder_attentions is None and hidden.cross_attentions is None
    plain = model(SRC, SRC_MASK, decoder_input_ids=TGT)
    assert plain.encoder_attentions is None and plain.decoder_hidden_states is None
    # sdpa runs the calls that record attentions in eager: same numbers either way
    torch.testing.assert_close(out.logits, plain.logits, atol=1e-5, rtol=1e-5)


def test_first_hidden_state_is_the_embeddings_output():
    model = build()
    out = model(SRC, SRC_MASK, decoder_input_ids=TGT, output_hidden_states=True)
    encoder = model.get_encoder()
    expected = encoder.embed_tokens(SRC) * encoder.embed_scale + encoder.embed_positions(torch.arange(5))
    torch.testing.assert_close(out.encoder_hidden_states[0], expected)
    # each recorded hidden state is the previous one passed through one layer
    bidirectional = create_bidirectional_mask(config=model.config, inputs_embeds=expected, attention_mask=SRC_MASK)
    torch.testing.assert_close(encoder.layers[0](expected, bidirectional), out.encoder_hidden_states[1])


def test_attentions_and_hidden_states_from_config_fields():
    model = build(output_attentions=True, output_hidden_states=True)
    # whatever kernel is configured, the calls that record attentions run in eager
    check_recorded(model(SRC, SRC_MASK, decoder_input_ids=TGT))
    check_recorded(model.model(SRC, SRC_MASK, decoder_input_ids=TGT))
    # an explicit argument wins over the config field
    assert model(SRC, SRC_MASK, decoder_input_ids=TGT, output_attentions=False).cross_attentions is None


def test_gradients_flow_into_recorded_attentions_and_hidden_states():
    model = build()
    model.train()  # dropout is 0 in tiny_config: same graph, gradients on
    out = model(SRC, SRC_MASK, labels=LABELS, output_attentions=True, output_hidden_states=True)
    recorded = [out.encoder_attentions[0], out.cross_attentions[1], out.decoder_attentions[0],
                out.encoder_hidden_states[1], out.decoder_hidden_states[0]]
    for tensor in recorded:
        tensor.retain_grad()
    out.loss.backward()
    for tensor in recorded:
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0


def test_generate_returns_attentions_and_hidden_states():
    model = build()
    out = model.generate(SRC, attention_mask=SRC_MASK, max_new_tokens=3, min_new_tokens=3, output_attentions=True,
                         output_hidden_states=True, return_dict_in_generate=True)
    assert len(out.encoder_attentions) == LAYERS and len(out.encoder_hidden_states) == LAYERS + 1
    assert len(out.decoder_attentions) == len(out.cross_attentions) == len(out.decoder_hidden_states) == 3
    assert out.cross_attentions[-1][0].shape == (2, HEADS, 1, 5)  # the last step: one query over the source


# ------------------------------------------------------------------------------------------- #13.2 typed outputs
def test_stacks_return_typed_outputs():
    model = build()
    encoded = model.get_encoder()(SRC, SRC_MASK)
    assert type(encoded) is BaseModelOutput
    decoded = model.get_decoder()(TGT, TGT_MASK, encoded.last_hidden_state, SRC_MASK, use_cache=True)
    assert type(decoded) is BaseModelOutputWithPastAndCrossAttentions
    assert decoded[1].get_seq_length() == 4  # the cache, in second place as in transformers
    assert type(model.model(SRC, SRC_MASK, decoder_input_ids=TGT)) is Seq2SeqModelOutput
    assert type(model(SRC, SRC_MASK, labels=LABELS)) is Seq2SeqLMOutput


@pytest.mark.parametrize("via", ["argument", "config"])
def test_return_dict_false_gives_transformers_tuples(via):
    model = build()
    model.set_attn_implementation("eager")
    record = dict(output_attentions=True, output_hidden_states=True)
    calls = {
        "encoder": (model.get_encoder(), (SRC, SRC_MASK), {}),
        "decoder": (model.get_decoder(), (TGT, TGT_MASK), dict(
            encoder_hidden_states=model.get_encoder()(SRC, SRC_MASK).last_hidden_state,
            encoder_attention_mask=SRC_MASK, use_cache=False)),
        "model": (model.model, (SRC, SRC_MASK), dict(decoder_input_ids=TGT, use_cache=False)),
        "lm": (model, (SRC, SRC_MASK), dict(labels=LABELS, use_cache=False)),
    }
    for name, (module, args, kwargs) in calls.items():
        as_dict = module(*args, **kwargs, **record)
        if via == "argument":
            as_tuple = module(*args, **kwargs, **record, return_dict=False)
        else:
            model.config.return_dict = False
            try:
                as_tuple = module(*args, **kwargs, **record)
            finally:
                model.config.return_dict = True
        assert isinstance(as_tuple, tuple) and len(as_tuple) == len(as_dict.to_tuple()), name
        flat = lambda items: [t for item in items for t in (item if isinstance(item, tuple) else (item,))]  # noqa: E731
        for ours, theirs in zip(flat(as_tuple), flat(as_dict.to_tuple()), strict=True):
            torch.testing.assert_close(ours, theirs, msg=name)
    # transformers' order: (loss, logits, encoder_last_hidden_state, ...) when no cache is returned
    loss, logits, *_ = model(SRC, SRC_MASK, labels=LABELS, use_cache=False, return_dict=False)
    torch.testing.assert_close(loss, model(SRC, SRC_MASK, labels=LABELS).loss)
    assert logits.shape == (2, 4, 400)


def test_encoder_outputs_tuple_is_accepted():
    model = build()
    encoded = model.get_encoder()(SRC, SRC_MASK, return_dict=False)
    expected = model(SRC, SRC_MASK, labels=LABELS).logits
    torch.testing.assert_close(model(attention_mask=SRC_MASK, encoder_outputs=encoded, labels=LABELS).logits, expected)


# -------------------------------------------------------------------------------------- #13.3 standalone stacks
def test_stacks_built_from_the_config_alone_match_the_model():
    model = build(share_encoder_decoder_embeddings=False, tgt_vocab_size=300, tie_word_embeddings=False)
    encoder = Seq2SeqTransformerEncoder(model.config).eval()
    decoder = Seq2SeqTransformerDecoder(model.config).eval()
    assert encoder.get_input_embeddings().num_embeddings == 400
    assert decoder.get_input_embeddings().num_embeddings == 300
    encoder.load_state_dict(model.get_encoder().state_dict())
    decoder.load_state_dict(model.get_decoder().state_dict())
    memory = encoder(SRC, SRC_MASK).last_hidden_state
    hidden = decoder(TGT, TGT_MASK, encoder_hidden_states=memory, encoder_attention_mask=SRC_MASK).last_hidden_state
    expected = model.model(SRC, SRC_MASK, decoder_input_ids=TGT, decoder_attention_mask=TGT_MASK)
    torch.testing.assert_close(memory, expected.encoder_last_hidden_state)
    torch.testing.assert_close(hidden, expected.last_hidden_state)


def test_decoder_without_encoder_output_says_what_to_pass():
    decoder = Seq2SeqTransformerDecoder(tiny_config())
    with pytest.raises(ValueError, match="encoder_hidden_states"):
        decoder(TGT)


@pytest.mark.parametrize("normalize_before", [False, True])
def test_long_prefix_in_the_cache_then_new_tokens_equals_one_forward(normalize_before):
    model = build(normalize_before=normalize_before)
    torch.manual_seed(1)
    target = torch.randint(4, 400, (2, 12))
    full = model(SRC, SRC_MASK, decoder_input_ids=target, use_cache=False).logits
    encoded = model.get_encoder()(SRC, SRC_MASK)
    prefix = model(attention_mask=SRC_MASK, encoder_outputs=encoded, decoder_input_ids=target[:, :9], use_cache=True)
    cache = prefix.cache if hasattr(prefix, "cache") else prefix.past_key_values
    assert cache.get_seq_length() == 9
    rest = model(attention_mask=SRC_MASK, encoder_outputs=encoded, decoder_input_ids=target[:, 9:], cache=cache)
    torch.testing.assert_close(torch.cat([prefix.logits, rest.logits], dim=1), full, atol=1e-5, rtol=1e-5)


def test_standalone_decoder_prefix_cache_equals_one_forward():
    model = build()
    decoder = Seq2SeqTransformerDecoder(model.config).eval()
    decoder.load_state_dict(model.get_decoder().state_dict())
    memory = model.get_encoder()(SRC, SRC_MASK).last_hidden_state
    target = torch.tensor([[1, 20, 21, 22, 23, 24, 25], [1, 30, 31, 32, 33, 34, 35]])
    full = decoder(target, encoder_hidden_states=memory, encoder_attention_mask=SRC_MASK).last_hidden_state
    first = decoder(target[:, :5], encoder_hidden_states=memory, encoder_attention_mask=SRC_MASK, use_cache=True)
    cache = first[1]
    second = decoder(target[:, 5:], encoder_hidden_states=memory, encoder_attention_mask=SRC_MASK, cache=cache)
    torch.testing.assert_close(torch.cat([first.last_hidden_state, second.last_hidden_state], 1), full,
                               atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------------ #13.4 tied weights
@pytest.mark.parametrize("overrides", EMBEDDING_LAYOUTS)
def test_tied_weights_save_and_load_exactly(overrides, tmp_path):
    model = build(**overrides)
    tied = model.config.tie_word_embeddings
    shared = model.config.share_encoder_decoder_embeddings
    declared = model.get_expanded_tied_weights_keys(all_submodels=True)
    assert ("lm_head.weight" in declared) == tied
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as saved:
        stored = set(saved.keys())
    assert ("lm_head.weight" in stored) == (not tied)  # a tied copy is not written twice
    loaded, info = Seq2SeqTransformerForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected, mismatched keys or errors
    before, after = model.state_dict(), loaded.state_dict()
    assert set(before) == set(after)
    for name in before:
        assert torch.equal(before[name], after[name]), name

    def same(a, b):
        return a.weight.data_ptr() == b.weight.data_ptr()

    assert same(loaded.lm_head, loaded.get_decoder().embed_tokens) == tied
    assert same(loaded.get_encoder().embed_tokens, loaded.get_decoder().embed_tokens) == shared
    # the tie survives training: one update moves both names
    if tied:
        loaded.get_decoder().embed_tokens.weight.data[5] += 1.0
        assert torch.equal(loaded.lm_head.weight[5], loaded.get_decoder().embed_tokens.weight[5])


def test_base_model_declares_its_shared_embeddings(tmp_path):
    model = build(Seq2SeqTransformerModel)
    model.save_pretrained(tmp_path)
    loaded, info = Seq2SeqTransformerModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info
    assert loaded.encoder.embed_tokens.weight.data_ptr() == loaded.shared.weight.data_ptr()
    torch.testing.assert_close(loaded(SRC, SRC_MASK, decoder_input_ids=TGT).last_hidden_state,
                               model(SRC, SRC_MASK, decoder_input_ids=TGT).last_hidden_state)


@pytest.mark.parametrize("overrides", [
    dict(),
    dict(share_encoder_decoder_embeddings=False, tgt_vocab_size=300),
])
def test_checkpoint_without_its_embedding_matrix_reports_it_missing(overrides, tmp_path):
    """A weights file that lacks the (tied) embedding matrix must not load in silence with random embeddings."""
    model = build(**overrides)
    model.save_pretrained(tmp_path)
    source = "model.shared.weight" if model.config.share_encoder_decoder_embeddings else "model.decoder.embed_tokens.weight"
    tied_to_source = {name for name, src in model.get_expanded_tied_weights_keys(all_submodels=True).items()
                      if src == source}
    with safe_open(tmp_path / "model.safetensors", "pt") as saved:
        kept = {name: saved.get_tensor(name) for name in saved.keys() if name != source}
    save_file(kept, tmp_path / "model.safetensors", metadata={"format": "pt"})
    _, info = Seq2SeqTransformerForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert source in info["missing_keys"]
    assert tied_to_source <= set(info["missing_keys"])  # its tied names have no value either


def test_checkpoint_holding_the_tied_copy_under_the_other_name_loads_it(tmp_path):
    """Only `lm_head.weight` in the file (not the decoder embedding it is tied to): that tensor is used, nothing missing."""
    model = build(share_encoder_decoder_embeddings=False, tgt_vocab_size=300)
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as saved:
        kept = {name: saved.get_tensor(name) for name in saved.keys()}
    kept["lm_head.weight"] = kept.pop("model.decoder.embed_tokens.weight")
    save_file(kept, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded, info = Seq2SeqTransformerForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"], info
    assert torch.equal(loaded.get_decoder().embed_tokens.weight, model.lm_head.weight)
    torch.testing.assert_close(loaded(SRC, SRC_MASK, decoder_input_ids=TGT).logits,
                               model(SRC, SRC_MASK, decoder_input_ids=TGT).logits)


# ------------------------------------------------------------------------ the cache argument under its old name
@pytest.mark.parametrize("cls", [Seq2SeqTransformerForConditionalGeneration, Seq2SeqTransformerModel])
def test_old_cache_argument_name_works_and_warns(cls):
    """`past_key_values=` (the name before transformers 5.2x) is still taken, with transformers' FutureWarning."""
    model = build(cls)
    encoded = model.get_encoder()(SRC, SRC_MASK)
    field = "cache" if hasattr(model(SRC, decoder_input_ids=TGT[:, :1], use_cache=True), "cache") else "past_key_values"
    outputs = {}
    for name in ("cache", "past_key_values"):
        prefix = model(attention_mask=SRC_MASK, encoder_outputs=encoded, decoder_input_ids=TGT[:, :2], use_cache=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outputs[name] = model(attention_mask=SRC_MASK, encoder_outputs=encoded, decoder_input_ids=TGT[:, 2:],
                                  **{name: getattr(prefix, field)})
        deprecated = [w for w in caught if "`past_key_values` is deprecated" in str(w.message)]
        assert bool(deprecated) == (name == "past_key_values" and field == "cache")  # warned only once renamed
        assert getattr(outputs[name], field).get_seq_length() == TGT.shape[1]
    first = outputs["cache"][0]
    torch.testing.assert_close(outputs["past_key_values"][0], first)


# ---------------------------------------------------------------------------- resizing the vocabulary (new tokens)
@pytest.mark.parametrize("overrides", EMBEDDING_LAYOUTS)
def test_resize_token_embeddings_then_save_and_load(overrides, tmp_path):
    """Tokens added to the tokenizer: the new ids work, the target side follows only a shared vocabulary, and the
    resized model saves and loads again with the same outputs."""
    model = build(**overrides)
    shared = model.config.share_encoder_decoder_embeddings
    target_before = model.config.target_vocab_size
    model.resize_token_embeddings(410)
    assert model.config.vocab_size == model.get_encoder().embed_tokens.weight.shape[0] == 410
    target = 410 if shared else target_before
    assert model.config.target_vocab_size == target
    assert model.get_decoder().embed_tokens.weight.shape[0] == model.lm_head.weight.shape[0] == target
    new_ids = torch.tensor([[405, 409, 2]])
    decoder_ids = torch.tensor([[1, 407 if shared else 299]])
    logits = model(new_ids, decoder_input_ids=decoder_ids).logits
    assert logits.shape == (1, 2, target)
    model.save_pretrained(tmp_path)
    loaded = Seq2SeqTransformerForConditionalGeneration.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded(new_ids, decoder_input_ids=decoder_ids).logits, logits)
    if model.config.tie_word_embeddings:
        assert loaded.lm_head.weight.data_ptr() == loaded.get_decoder().embed_tokens.weight.data_ptr()


# ------------------------------------------------------------------- the decoder's view of the config (transformers)
@pytest.mark.parametrize("overrides", [
    dict(),
    dict(share_encoder_decoder_embeddings=False, tgt_vocab_size=300, decoder_layers=3, decoder_attention_heads=8),
])
def test_decoder_text_config_has_the_decoder_sizes(overrides):
    """`config.get_text_config(decoder=True)` (what transformers sizes scores and caches from) describes the decoder:
    its vocabulary is the target one, the width of the scores generate() returns."""
    model = build(**overrides)
    decoder_view = model.config.get_text_config(decoder=True)
    assert decoder_view.vocab_size == model.config.target_vocab_size == model.lm_head.out_features
    assert decoder_view.num_hidden_layers == model.config.decoder_layers
    assert decoder_view.num_attention_heads == model.config.decoder_attention_heads
    assert model.config.get_text_config(encoder=True).vocab_size == model.config.vocab_size
    assert model.config.vocab_size == 400 and model.config.encoder_layers == 2  # the model's own config is untouched
    out = model.generate(SRC, attention_mask=SRC_MASK, max_new_tokens=3, do_sample=False, output_scores=True,
                         return_dict_in_generate=True)
    assert {tuple(score.shape) for score in out.scores} == {(2, decoder_view.vocab_size)}


# --------------------------------------------------------------------- stacks found the transformers way (exporters)
@pytest.mark.parametrize("cls", [Seq2SeqTransformerForConditionalGeneration, Seq2SeqTransformerModel])
def test_get_encoder_takes_transformers_modality_argument(cls):
    """transformers' callers (e.g. its exporters) ask `get_encoder(modality=None)`; the text stacks come back."""
    model = build(cls)
    base = model if cls is Seq2SeqTransformerModel else model.model
    assert model.get_encoder() is model.get_encoder(modality=None) is base.encoder
    assert model.get_decoder() is base.decoder


def test_transformers_exporter_exports_the_generation_graphs():
    """transformers' DynamoExporter splits generate() into prefill and decode graphs; both give the eager outputs."""
    from transformers.exporters.exporter_dynamo import DynamoConfig, DynamoExporter
    from transformers.exporters.utils import decompose_for_generation

    model = build()
    inputs = {"input_ids": SRC, "attention_mask": SRC_MASK}
    exported = DynamoExporter().export_for_generation(model, inputs, config=DynamoConfig())
    components = decompose_for_generation(model, inputs)
    assert set(exported.runners) == set(components) == {"prefill", "decode"}
    for name, (submodel, sample) in components.items():
        sample = {key: value for key, value in sample.items() if key not in ("use_cache", "return_dict")}
        with torch.no_grad():
            expected = submodel(**copy.deepcopy(sample)).logits
        torch.testing.assert_close(exported.runners[name](**copy.deepcopy(sample))["logits"], expected)


# ---------------------------------------------------------------------------------------- gradient checkpointing
@pytest.mark.parametrize("use_reentrant", [True, False])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(use_reentrant):
    """`gradient_checkpointing_enable()` (recompute activations in backward) trains exactly like the plain model."""
    plain = build()  # dropout 0: two training-mode forwards are identical
    checkpointed = build()
    checkpointed.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": use_reentrant})
    assert checkpointed.is_gradient_checkpointing
    for model in (plain, checkpointed):
        model.train()
        model(SRC, SRC_MASK, labels=LABELS).loss.backward()
    gradients = {name: parameter.grad for name, parameter in checkpointed.named_parameters()}
    assert all(grad is not None for grad in gradients.values())
    for name, parameter in plain.named_parameters():
        torch.testing.assert_close(gradients[name], parameter.grad, msg=name)


def test_forward_declares_transformers_keyword_arguments():
    """`**kwargs` is typed with transformers' keyword arguments (how its tools learn that output_attentions works)."""
    for forward in (Seq2SeqTransformerForConditionalGeneration.forward, Seq2SeqTransformerModel.forward,
                    Seq2SeqTransformerEncoder.forward, Seq2SeqTransformerDecoder.forward):
        declared = inspect.signature(forward).parameters["kwargs"].annotation.__args__[0].__annotations__
        assert {"output_attentions", "output_hidden_states"} <= set(declared)
