"""Fast greedy decoding for the encoder–decoder Transformer: a static KV cache and a lean decoder step.

Kept apart from the modeling file so that the model reads like the paper; `generate()` hands plain greedy search
to `StaticGreedyDecoder` (see `Seq2SeqTransformerForConditionalGeneration._sample`), which gives the same tokens.
Travels to the Hub with the modeling file as remote code: imports only torch and transformers.
"""

import torch
from torch import nn
from transformers.generation.stopping_criteria import EosTokenCriteria, MaxLengthCriteria


# --------------------------------------------------------------------------------------------------------------
# Fast greedy decoding: a static self-attention cache, cross-attention keys/values computed once, fused QKV
# --------------------------------------------------------------------------------------------------------------
class StaticGreedyDecoder:
    """Greedy decoding of a batch with preallocated key/value buffers and a lean decoder step.

    The same layers, weights and kernels as the decoder's `forward`, minus the generic machinery a greedy step
    does not need: no mask construction (the self-attention of step t sees positions 0..t, all valid), no
    growing `DynamicCache` (keys/values are written into buffers sized for the whole output), the three
    self-attention projections run as one matmul (their weights concatenated once per call, never saved), and the
    logits of the last position only. `generate()` hands plain greedy search to it (see `Seq2SeqTransformerForConditionalGeneration._sample`); call it
    directly to decode without `generate()`.

    With `full_width=True` every step attends over the whole buffer with a mask of the positions written so far,
    so all shapes are fixed and the step can be compiled once (CUDA graphs on a GPU, see `compile_greedy_step`).

    Example:
        >>> import torch
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration
        >>> config = Seq2SeqTransformerConfig(vocab_size=100, d_model=32, encoder_layers=1, decoder_layers=1,
        ...     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64)
        >>> model = Seq2SeqTransformerForConditionalGeneration(config).eval()
        >>> src = torch.tensor([[5, 6, 2]])
        >>> fast = StaticGreedyDecoder(model, src, torch.ones_like(src), max_new_tokens=5).generate()
        >>> model.fast_greedy = False  # the generic loop of transformers, for comparison
        >>> torch.equal(fast, model.generate(src, max_new_tokens=5, do_sample=False))
        True
    """

    def __init__(
        self,
        model: "Seq2SeqTransformerForConditionalGeneration",
        input_ids: torch.LongTensor | None,  # (B, S)
        attention_mask: torch.Tensor | None,  # (B, S)
        max_new_tokens: int,
        encoder_hidden_states: torch.Tensor | None = None,  # (B, S, D), when the encoder already ran
        eos_token_id: torch.Tensor | int | list[int] | None = -1,  # -1: take it from the generation config
        pad_token_id: int | None = None,
        full_width: bool = False,
    ):
        self.model, self.decoder, self.full_width = model, model.model.decoder, full_width
        config = model.config
        if encoder_hidden_states is None:
            encoder_hidden_states = model.model.encoder(input_ids, attention_mask).last_hidden_state
        if isinstance(eos_token_id, int) and eos_token_id == -1:
            eos_token_id = model.generation_config.eos_token_id
        self.eos = None if eos_token_id is None else torch.as_tensor(eos_token_id, device=encoder_hidden_states.device)
        self.pad_token_id = config.pad_token_id if pad_token_id is None else pad_token_id
        batch, source_length, _ = encoder_hidden_states.shape
        self.max_new_tokens = max_new_tokens
        # The target holds <s> plus the tokens generated before the last one; positions past the table raise
        # when reached, as the decoder's forward does.
        length = max(1, min(max_new_tokens, config.max_position_embeddings))
        heads = config.decoder_attention_heads
        head_dim = config.d_model // heads
        # None when nothing is padded, so that the cross-attention kernel runs unmasked as in `forward`.
        self.cross_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            self.cross_mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, S)
        self.cross_kv, self.qkv, self.keys, self.values = [], [], [], []
        for layer in self.decoder.layers:
            project = layer.encoder_attn
            self.cross_kv.append((  # (B, H, S, Dh) each, computed once
                project.k_proj(encoder_hidden_states).view(batch, source_length, heads, head_dim).transpose(1, 2),
                project.v_proj(encoder_hidden_states).view(batch, source_length, heads, head_dim).transpose(1, 2),
            ))
            attn = layer.self_attn
            self.qkv.append((
                torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]),  # (3D, D)
                torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]),
            ))
            dtype = encoder_hidden_states.dtype
            self.keys.append(encoder_hidden_states.new_zeros(batch, heads, length, head_dim, dtype=dtype))
            self.values.append(encoder_hidden_states.new_zeros(batch, heads, length, head_dim, dtype=dtype))
        self.positions = torch.arange(length, device=encoder_hidden_states.device)
        self.step_fn = self.step

    def self_attention(self, i: int, layer, x: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        attn = layer.self_attn
        batch = x.shape[0]
        qkv = nn.functional.linear(x, *self.qkv[i]).view(batch, 1, 3, attn.num_heads, attn.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 × (B, H, 1, Dh)
        keys, values = self.keys[i], self.values[i]
        if self.full_width:  # fixed shapes: write at tensor index t, attend over the buffer, mask the future
            keys.index_copy_(2, t.view(1), key)
            values.index_copy_(2, t.view(1), value)
            mask = (self.positions <= t).view(1, 1, 1, -1)
        else:  # attend over exactly the t + 1 positions written so far, like the growing cache does
            keys[:, :, t : t + 1] = key
            values[:, :, t : t + 1] = value
            keys, values, mask = keys[:, :, : t + 1], values[:, :, : t + 1], None
        output = nn.functional.scaled_dot_product_attention(query, keys, values, attn_mask=mask, scale=attn.scaling)
        return attn.out_proj(output.transpose(1, 2).reshape(batch, 1, -1))

    def cross_attention(self, i: int, layer, x: torch.Tensor) -> torch.Tensor:
        attn = layer.encoder_attn
        batch = x.shape[0]
        query = attn.q_proj(x).view(batch, 1, attn.num_heads, attn.head_dim).transpose(1, 2)  # (B, H, 1, Dh)
        key, value = self.cross_kv[i]
        output = nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=self.cross_mask, scale=attn.scaling
        )
        return attn.out_proj(output.transpose(1, 2).reshape(batch, 1, -1))

    def step(self, tokens: torch.LongTensor, t: int | torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, V) after reading `tokens` (B,) at target position t."""
        decoder = self.decoder
        x = decoder.embed_tokens(tokens[:, None]) * decoder.embed_scale + decoder.embed_positions(
            t.view(1) if self.full_width else self.positions[t : t + 1]  # position ids: t itself
        )  # (B, 1, D); dropout is the identity in eval mode (no `positions[t]`: torch 2.11's compile rejects it)
        for i, layer in enumerate(decoder.layers):
            attn, cross, ffn = layer.self_attn_block, layer.encoder_attn_block, layer.ffn_block
            x = attn(x, self.self_attention(i, layer, attn.sublayer_input(x), t))
            x = cross(x, self.cross_attention(i, layer, cross.sublayer_input(x)))
            x = ffn(x, layer.ffn(ffn.sublayer_input(x)))
        if decoder.layer_norm is not None:
            x = decoder.layer_norm(x)
        return self.model.lm_head(x[:, 0])  # (B, V)

    def keep_rows(self, rows: torch.LongTensor) -> None:
        """Drop finished sequences from every buffer, so that later steps compute only the unfinished ones."""
        self.cross_kv = [(key[rows], value[rows]) for key, value in self.cross_kv]
        self.keys, self.values = [k[rows] for k in self.keys], [v[rows] for v in self.values]
        if self.cross_mask is not None:
            self.cross_mask = self.cross_mask[rows]

    @torch.no_grad()
    def generate(self, decoder_input_ids: torch.LongTensor | None = None) -> torch.LongTensor:
        """Greedy tokens (B, 1 + new), starting from `decoder_start_token_id`; finished rows are padded.

        Rows are independent, so once a quarter of the rows still in the buffers have produced `</s>` they are
        dropped from the buffers (not with `full_width`, whose shapes must stay fixed); their outputs are pads.
        """
        batch = self.keys[0].shape[0]
        if decoder_input_ids is None:
            decoder_input_ids = self.keys[0].new_full((batch, 1), self.model.config.decoder_start_token_id,
                                                      dtype=torch.long)
        output = decoder_input_ids.new_full((batch, 1 + self.max_new_tokens), self.pad_token_id)
        output[:, 0] = decoder_input_ids[:, -1]
        rows = torch.arange(batch, device=output.device)  # output row of each buffer row
        tokens = decoder_input_ids[:, -1]
        unfinished = torch.ones(batch, dtype=torch.bool, device=tokens.device)
        steps = 0
        for t in range(self.max_new_tokens):
            if t >= self.model.config.max_position_embeddings:
                raise ValueError(
                    f"The target would grow past max_position_embeddings={self.model.config.max_position_embeddings}; "
                    "lower max_length / max_new_tokens."
                )
            logits = self.step_fn(tokens, torch.tensor(t, device=tokens.device) if self.full_width else t)
            tokens = logits.float().argmax(-1)  # (rows in the buffers,)
            steps = t + 1
            if self.eos is None:
                output[rows, steps] = tokens
                continue
            tokens = torch.where(unfinished, tokens, self.pad_token_id)
            output[rows, steps] = tokens
            unfinished &= ~torch.isin(tokens, self.eos)
            left = int(unfinished.sum())  # one host sync per step, as generate() has
            if left == 0:
                break
            if not self.full_width and left <= 0.75 * len(rows):
                keep = unfinished.nonzero().squeeze(1)
                self.keep_rows(keep)
                rows, tokens, unfinished = rows[keep], tokens[keep], unfinished[keep]
        return output[:, : 1 + steps]


class StaticGreedyGenerationMixin:
    """Routes plain greedy search inside `generate()` to `StaticGreedyDecoder`; everything else to transformers.

    Placed before `GenerationMixin` in the model's bases, so `_sample` here wraps transformers' loop.
    """

    # Plain greedy search inside `generate()` runs on `StaticGreedyDecoder` when that is exactly the same search;
    # set to False on an instance to always use transformers' generic loop.
    fast_greedy: bool = True
    _greedy_step_compile_kwargs: dict | None = None

    def compile_greedy_step(self, **compile_kwargs) -> None:
        """Opt in: `torch.compile` the fixed-shape greedy decoder step used by `generate()` for plain greedy search.

        On a GPU, `mode="reduce-overhead"` replays the step as a CUDA graph. The step is recompiled for every new
        batch size, source length or `max_new_tokens`. Without arguments, `torch.compile`'s defaults apply.

        Example (on a GPU)::

            model.compile_greedy_step(mode="reduce-overhead")
            model.generate(input_ids, attention_mask=mask, max_new_tokens=32)  # compiles, then replays the graph
        """
        self._greedy_step_compile_kwargs = dict(compile_kwargs)

    def _static_greedy_applies(self, input_ids, logits_processor, stopping_criteria, generation_config, synced_gpus,
                               streamer, model_kwargs) -> bool:
        """True when `_sample` is plain greedy search that `StaticGreedyDecoder` reproduces exactly."""
        cache = model_kwargs.get("cache", model_kwargs.get("past_key_values"))
        return (
            self.fast_greedy
            and not self.training
            and not generation_config.do_sample
            and len(logits_processor) == 0  # no min length, repetition penalty, forced tokens, bad words, ...
            and all(type(c) in (MaxLengthCriteria, EosTokenCriteria) for c in stopping_criteria)
            and stopping_criteria.max_length is not None
            and streamer is None
            and not synced_gpus
            and not generation_config.return_dict_in_generate  # scores, attentions, hidden states, the cache
            and not getattr(generation_config, "is_assistant", False)
            and (self.config._attn_implementation or "eager") == "sdpa"
            and model_kwargs.get("use_cache", True)
            and input_ids.shape[1] == 1  # only <s>: no decoder prompt
            and model_kwargs.get("encoder_outputs") is not None
            and model_kwargs.get("decoder_attention_mask") is None
            and not model_kwargs.get("output_attentions") and not model_kwargs.get("output_hidden_states")
            and (cache is None or (cache.get_seq_length() == 0 and not getattr(cache, "_is_user_defined", False)))
        )

    def _sample(self, input_ids, logits_processor, stopping_criteria, generation_config, synced_gpus=False,
                streamer=None, **model_kwargs):
        """transformers' greedy/sampling loop, or `StaticGreedyDecoder` for plain greedy search (same tokens)."""
        if not self._static_greedy_applies(input_ids, logits_processor, stopping_criteria, generation_config,
                                           synced_gpus, streamer, model_kwargs):
            return super()._sample(input_ids, logits_processor, stopping_criteria, generation_config,
                                   synced_gpus=synced_gpus, streamer=streamer, **model_kwargs)
        eos = [c.eos_token_id for c in stopping_criteria if isinstance(c, EosTokenCriteria)]
        pad = generation_config._pad_token_tensor
        decoder = StaticGreedyDecoder(
            self, None, model_kwargs.get("attention_mask"), stopping_criteria.max_length - input_ids.shape[1],
            encoder_hidden_states=model_kwargs["encoder_outputs"].last_hidden_state,
            eos_token_id=eos[0] if eos else None, pad_token_id=int(pad) if pad is not None else None,
            full_width=self._greedy_step_compile_kwargs is not None,
        )
        if self._greedy_step_compile_kwargs is not None:
            for buffer in decoder.keys + decoder.values:
                torch._dynamo.mark_static_address(buffer)  # updated in place: CUDA graphs may keep its address
            decoder.step_fn = torch.compile(decoder.step, **self._greedy_step_compile_kwargs)
        return decoder.generate(input_ids)
