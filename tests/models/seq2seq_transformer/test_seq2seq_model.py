"""Behaviour of the encoder–decoder Transformer, in the spirit of transformers' own model tests."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import tiny_config
from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM

from hf_seq2seq_vit import (
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
    Seq2SeqTransformerModel,
)
from hf_seq2seq_vit.models.seq2seq_transformer.layers_seq2seq_transformer import (
    Seq2SeqTransformerAttention,
    sinusoidal_table,
)

SRC = torch.tensor([[5, 6, 7, 8, 2], [9, 10, 2, 0, 0]])
SRC_MASK = (SRC != 0).long()
LABELS = torch.tensor([[11, 12, 13, 2], [14, 2, -100, -100]])


# ---------------------------------------------------------------------------------------------- forward and loss
def test_forward_shapes_and_loss(tiny_seq2seq):
    out = tiny_seq2seq(SRC, SRC_MASK, labels=LABELS, output_hidden_states=True, output_attentions=True)
    assert out.logits.shape == (2, 4, 400)
    assert out.encoder_last_hidden_state.shape == (2, 5, 32)
    assert len(out.encoder_hidden_states) == 3 and len(out.decoder_hidden_states) == 3
    assert out.encoder_attentions[0].shape == (2, 4, 5, 5)
    assert out.decoder_attentions[0].shape == (2, 4, 4, 4)
    assert out.cross_attentions[0].shape == (2, 4, 4, 5)
    # padding keys get no attention, future positions get no attention
    assert out.encoder_attentions[0][1, :, :, 3:].abs().max() == 0
    assert torch.triu(out.decoder_attentions[0][0], diagonal=1).abs().max() == 0
    # the loss is the mean token cross-entropy over labels that are not -100
    flat = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 400), LABELS.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, flat)
    assert abs(out.loss.item() - torch.log(torch.tensor(400.0)).item()) < 0.5  # untrained: near uniform


def test_labels_are_shifted_into_decoder_inputs(tiny_seq2seq):
    shifted = tiny_seq2seq.prepare_decoder_input_ids_from_labels(LABELS)
    assert shifted.tolist() == [[1, 11, 12, 13], [1, 14, 2, 0]]
    by_labels = tiny_seq2seq(SRC, SRC_MASK, labels=LABELS).logits
    by_inputs = tiny_seq2seq(SRC, SRC_MASK, decoder_input_ids=shifted).logits
    torch.testing.assert_close(by_labels, by_inputs)


def test_label_smoothing_matches_torch_reference():
    torch.manual_seed(0)
    model = Seq2SeqTransformerForConditionalGeneration(tiny_config(label_smoothing=0.1)).eval()
    out = model(SRC, SRC_MASK, labels=LABELS)
    ref = torch.nn.functional.cross_entropy(
        out.logits.reshape(-1, 400), LABELS.reshape(-1), ignore_index=-100, label_smoothing=0.1
    )
    torch.testing.assert_close(out.loss, ref)
    plain = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 400), LABELS.reshape(-1), ignore_index=-100)
    assert abs(out.loss.item() - plain.item()) > 1e-3  # the config value reaches the loss


def test_sinusoidal_table_is_the_papers_formula():
    table = sinusoidal_table(50, 16)
    pos, i = 7, 3
    assert table[pos, 2 * i].item() == pytest.approx(torch.sin(torch.tensor(pos / 10000 ** (2 * i / 16))).item(), abs=1e-6)
    assert table[pos, 2 * i + 1].item() == pytest.approx(torch.cos(torch.tensor(pos / 10000 ** (2 * i / 16))).item(), abs=1e-6)


@pytest.mark.parametrize("overrides", [dict(normalize_before=True), dict(position_embedding_type="learned"),
                                       dict(share_encoder_decoder_embeddings=False, tgt_vocab_size=300,
                                            tie_word_embeddings=False)])
def test_variants_train_and_generate(overrides):
    torch.manual_seed(0)
    model = Seq2SeqTransformerForConditionalGeneration(tiny_config(**overrides))
    labels = LABELS.clamp(max=299) if "tgt_vocab_size" in overrides else LABELS
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(SRC, SRC_MASK, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    assert model.generate(SRC, attention_mask=SRC_MASK, max_new_tokens=4).shape[0] == 2
    if overrides.get("share_encoder_decoder_embeddings") is False:
        assert model.lm_head.weight.shape[0] == 300
        assert model.model.encoder.embed_tokens is not model.model.decoder.embed_tokens


def test_tied_embeddings_share_storage(tiny_seq2seq):
    shared = tiny_seq2seq.model.shared.weight
    assert tiny_seq2seq.lm_head.weight.data_ptr() == shared.data_ptr()
    assert tiny_seq2seq.model.encoder.embed_tokens.weight.data_ptr() == shared.data_ptr()
    assert tiny_seq2seq.model.decoder.embed_tokens.weight.data_ptr() == shared.data_ptr()


# ------------------------------------------------------------------------------------------------------ attention
def test_attention_equals_torch_multi_head_attention():
    """Our projections + kernel equal torch's reference multi-head attention on the same weights."""
    torch.manual_seed(0)
    config = tiny_config()
    x = torch.randn(2, 6, 32)
    keep = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    mask = keep[:, None, None, :].expand(2, 1, 6, 6)
    for implementation in ("eager", "sdpa"):
        config._attn_implementation = implementation
        attention = Seq2SeqTransformerAttention(config, num_heads=4, is_causal=False, layer_idx=0).eval()
        ours, _ = attention(x, mask)
        ref, _ = torch.nn.functional.multi_head_attention_forward(
            x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), 32, 4,
            in_proj_weight=torch.cat([attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight]),
            in_proj_bias=torch.cat([attention.q_proj.bias, attention.k_proj.bias, attention.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=attention.out_proj.weight, out_proj_bias=attention.out_proj.bias,
            key_padding_mask=~keep, need_weights=False,
        )
        torch.testing.assert_close(ours, ref.transpose(0, 1), atol=1e-5, rtol=1e-5)


def test_eager_and_sdpa_give_the_same_logits(tiny_seq2seq):
    sdpa = tiny_seq2seq(SRC, SRC_MASK, labels=LABELS).logits
    tiny_seq2seq.set_attn_implementation("eager")
    assert tiny_seq2seq.config._attn_implementation == "eager"
    eager = tiny_seq2seq(SRC, SRC_MASK, labels=LABELS).logits
    torch.testing.assert_close(sdpa, eager, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------------------- overfitting, generate
@pytest.fixture(scope="module")
def overfit(tokenizer, multi30k_pairs):
    """A tiny model trained to memorise 8 English→German pairs, with its loss curve."""
    pairs = multi30k_pairs[:8]
    batch = tokenizer([en for en, _ in pairs], text_target=[de for _, de in pairs], padding=True,
                      return_tensors="pt")
    batch["labels"] = batch["labels"].masked_fill(batch["labels"] == tokenizer.pad_token_id, -100)
    torch.manual_seed(0)
    model = Seq2SeqTransformerForConditionalGeneration(
        tiny_config(vocab_size=len(tokenizer), d_model=64, encoder_ffn_dim=128, decoder_ffn_dim=128)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(250):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), pairs, batch, losses


def test_loss_decreases_when_overfitting(overfit):
    _, _, _, losses = overfit
    assert losses[-1] < 0.05 * losses[0]
    assert losses[-1] < 0.1


def test_greedy_generate_reproduces_the_targets(overfit, tokenizer):
    model, pairs, batch, _ = overfit
    generated = model.generate(batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=40)
    assert tokenizer.batch_decode(generated, skip_special_tokens=True) == [de for _, de in pairs]


def test_cached_and_uncached_generation_agree(overfit):
    model, _, batch, _ = overfit
    inputs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=30)
    for options in (dict(), dict(num_beams=3)):
        cached = model.generate(**inputs, **options, use_cache=True)
        uncached = model.generate(**inputs, **options, use_cache=False)
        assert torch.equal(cached, uncached), options


def test_batch_with_padding_equals_each_sentence_alone(overfit, tokenizer):
    model, pairs, batch, _ = overfit
    together = model.generate(batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=40)
    texts = tokenizer.batch_decode(together, skip_special_tokens=True)
    logits_together = model(**batch).logits
    for i, (en, _) in enumerate(pairs):
        alone = tokenizer(en, return_tensors="pt")
        assert tokenizer.decode(model.generate(**alone, max_new_tokens=40)[0], skip_special_tokens=True) == texts[i]
        length = int(alone["attention_mask"].sum())
        target_len = int((batch["labels"][i] != -100).sum())
        logits_alone = model(**alone, labels=batch["labels"][i : i + 1, :target_len]).logits
        torch.testing.assert_close(logits_alone[0], logits_together[i, :target_len], atol=1e-4, rtol=1e-4)
        assert length == int(batch["attention_mask"][i].sum())


def test_generate_options(overfit):
    model, _, batch, _ = overfit
    ids, mask = batch["input_ids"][:2], batch["attention_mask"][:2]
    greedy = model.generate(ids, attention_mask=mask, max_new_tokens=5)
    assert greedy.shape[1] <= 6 and (greedy[:, 0] == model.config.decoder_start_token_id).all()
    beams = model.generate(ids, attention_mask=mask, num_beams=4, num_return_sequences=3, max_new_tokens=40,
                           output_scores=True, return_dict_in_generate=True)
    assert beams.sequences.shape[0] == 6
    # each source's sequences come best first (a property of beam search, whatever the trained weights are)
    scores = beams.sequences_scores.view(2, 3)
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    assert len({tuple(row.tolist()) for row in beams.sequences[:3]}) == 3  # three different hypotheses
    torch.manual_seed(123)
    sample_a = model.generate(ids, attention_mask=mask, do_sample=True, top_k=20, temperature=1.5, max_new_tokens=20)
    torch.manual_seed(123)
    sample_b = model.generate(ids, attention_mask=mask, do_sample=True, top_k=20, temperature=1.5, max_new_tokens=20)
    assert torch.equal(sample_a, sample_b)
    scored = model.generate(ids, attention_mask=mask, max_new_tokens=10, output_scores=True,
                            return_dict_in_generate=True)
    assert len(scored.scores) == scored.sequences.shape[1] - 1


# ---------------------------------------------------------------------------------------------- save and load
def test_save_load_identical_logits_and_every_weight_loaded(tiny_seq2seq, tmp_path):
    expected = tiny_seq2seq(SRC, SRC_MASK, labels=LABELS).logits
    tiny_seq2seq.save_pretrained(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt", ".pth")) for f in files)
    assert "modeling_seq2seq_transformer.py" in files and "configuration_seq2seq_transformer.py" in files
    loaded, info = Seq2SeqTransformerForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    for name, tensor in tiny_seq2seq.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, msg=name)
    # the sinusoidal table is a non-persistent buffer: it must be recomputed, not left at zero
    assert loaded.model.encoder.embed_positions.weight.abs().sum() > 0
    torch.testing.assert_close(loaded(SRC, SRC_MASK, labels=LABELS).logits, expected)


def test_auto_classes(tiny_seq2seq, tmp_path):
    tiny_seq2seq.save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is Seq2SeqTransformerConfig
    assert type(AutoModel.from_pretrained(tmp_path)) is Seq2SeqTransformerModel
    assert type(AutoModelForSeq2SeqLM.from_pretrained(tmp_path)) is Seq2SeqTransformerForConditionalGeneration
    assert AutoConfig.for_model("seq2seq_transformer", d_model=64, encoder_attention_heads=4).d_model == 64


def test_fresh_process_loads_with_trust_remote_code(tiny_seq2seq, tmp_path):
    expected = tiny_seq2seq(SRC, SRC_MASK, labels=LABELS).logits
    tiny_seq2seq.save_pretrained(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSeq2SeqLM"].endswith("Seq2SeqTransformerForConditionalGeneration")
    script = textwrap.dedent(f"""
        import sys, torch
        from transformers import AutoModelForSeq2SeqLM
        model = AutoModelForSeq2SeqLM.from_pretrained({str(tmp_path / 'model')!r}, trust_remote_code=True)
        assert "hf_seq2seq_vit" not in sys.modules, "the package must not be needed"
        src = torch.tensor({SRC.tolist()}); labels = torch.tensor({LABELS.tolist()})
        logits = model.eval()(src, (src != 0).long(), labels=labels).logits
        torch.save(logits, {str(tmp_path / 'logits.pt')!r})
        print(type(model).__module__)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "transformers_modules" in done.stdout
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt", weights_only=True), expected)


# -------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "overrides, field",
    [(dict(d_model=30), "d_model"), (dict(encoder_layers=-1), "encoder_layers"), (dict(vocab_size=0), "vocab_size"),
     (dict(activation_function="relu6"), "activation_function"), (dict(dropout=1.5), "dropout"),
     (dict(position_embedding_type="rotary"), "position_embedding_type"), (dict(d_modle=64), "d_modle"),
     (dict(tgt_vocab_size=100), "share_encoder_decoder_embeddings")],
)
def test_invalid_config_raises_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        tiny_config(**overrides)


def test_bad_inputs_raise_clear_errors(tiny_seq2seq):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tiny_seq2seq(torch.tensor([[5, 400, 2]]), labels=LABELS[:1])
    with pytest.raises(ValueError, match="max_position_embeddings"):
        tiny_seq2seq(torch.ones(1, 65, dtype=torch.long), labels=LABELS[:1])
    with pytest.raises(ValueError, match="empty"):
        tiny_seq2seq(torch.ones(0, 5, dtype=torch.long), labels=LABELS[:0])
    with pytest.raises(ValueError, match="max_position_embeddings"):
        tiny_seq2seq.generate(SRC, attention_mask=SRC_MASK, max_new_tokens=100, min_new_tokens=100)
    with pytest.raises(ValueError, match="decoder_input_ids"):
        tiny_seq2seq.model(SRC, SRC_MASK)
