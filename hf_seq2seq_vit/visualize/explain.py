"""Explain one prediction: the decoder's steps with their candidates and cross-attention, or an image's rollout.

Translation, the way the paper pictures the decoder: it starts from ``<s>`` and adds one token per step,
``<s>`` → ``<s> Ein`` → ``<s> Ein Mann`` → ... → ``</s>``, each step a distribution over the vocabulary::

    >>> explanation = explain_translation(model, tokenizer, "A man is riding a bicycle.", num_beams=4)  # doctest: +SKIP
    >>> print(explanation.format_steps())                                                          # doctest: +SKIP
    step  prefix                                   next token   p      top candidates
       1  <s>                                      ▁Ein         0.912  ▁Ein 0.912 | ▁Zwei 0.021 | ...
    >>> save_cross_attention_heatmap(explanation, "attention.png")                                 # doctest: +SKIP

The tokens are exactly the ones ``model.generate()`` returns with the same settings (greedy or beam search): the
sequence comes from ``generate()`` itself and is then run once more through the model with teacher forcing, which
gives each step's full distribution and the cross-attention of every layer and head. For greedy search the chosen
token is the top candidate at every step; for beam search it need not be (a lower-ranked token can start the
better hypothesis), which is what the printed candidates show.

Images: the attention rollout (Abnar & Zuidema 2020, :mod:`hf_seq2seq_vit.attention_rollout`) over the pixels the
model saw, blended on that image, plus the top-k labels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "DecodingStep",
    "ImageExplanation",
    "TranslationExplanation",
    "cross_attention_figure",
    "explain_image",
    "explain_translation",
    "figure_to_array",
    "new_figure",
    "pixels_to_image",
    "save_cross_attention_heatmap",
    "save_rollout_overlay",
]


# --------------------------------------------------------------------------------------------------------- translation
@dataclass
class DecodingStep:
    """One decoder step: the prefix it read, the token it chose (and its probability), the top-k candidates."""

    prefix: str
    token_id: int
    token: str
    probability: float
    candidates: list[tuple[str, float]]  # top-k (token, probability), most probable first


@dataclass
class TranslationExplanation:
    """What :func:`explain_translation` found for one sentence.

    ``cross_attentions`` is ``(layers, heads, steps, source_tokens)``: row ``t`` is the attention of the decoder
    position that chose ``target_tokens[t + 1]`` (it reads ``target_tokens[t]``).
    """

    source: str
    translation: str
    source_tokens: list[str]
    target_ids: list[int]  # the generate() output, decoder start token first
    target_tokens: list[str]
    steps: list[DecodingStep]
    cross_attentions: torch.Tensor  # (L, H, T, S)
    settings: dict[str, Any] = field(default_factory=dict)

    def format_steps(self) -> str:
        """The steps as a table of text, one line per step."""
        width = min(max([len(step.prefix) for step in self.steps] + [6]), 60)
        lines = [f"{'step':>4}  {'prefix':<{width}}  {'next token':<14} {'p':>6}   top candidates"]
        for number, step in enumerate(self.steps, start=1):
            prefix = step.prefix if len(step.prefix) <= width else "…" + step.prefix[-(width - 1):]
            candidates = " | ".join(f"{token} {probability:.3f}" for token, probability in step.candidates)
            lines.append(f"{number:>4}  {prefix:<{width}}  {step.token:<14} {step.probability:>6.3f}   {candidates}")
        return "\n".join(lines)


@torch.no_grad()
def explain_translation(
    model: Any, tokenizer: Any, sentence: str, top_k: int = 5, **generate_kwargs: Any
) -> TranslationExplanation:
    """Translate ``sentence`` with ``model.generate(**generate_kwargs)`` and explain every decoding step.

    Args:
        model: a seq2seq model (e.g. :class:`Seq2SeqTransformerForConditionalGeneration`), in eval mode.
        tokenizer: its tokenizer.
        sentence: the source sentence.
        top_k: how many candidates to list per step.
        generate_kwargs: ``num_beams``, ``max_new_tokens``, ... as for ``generate()``; sampling is switched off so
            that the explanation is reproducible.

    Example::

        >>> explanation = explain_translation(model, tokenizer, "Two dogs play.", num_beams=1)   # doctest: +SKIP
        >>> [step.token for step in explanation.steps][-1]                                     # doctest: +SKIP
        '</s>'
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError("explain_translation needs a non-empty sentence")
    if top_k < 1:
        raise ValueError(f"top_k={top_k} is invalid: expected an integer >= 1")
    generate_kwargs = {"do_sample": False, **generate_kwargs}
    device = next(model.parameters()).device
    inputs = tokenizer([sentence], return_tensors="pt", truncation=True).to(device)
    sequence = model.generate(**inputs, **generate_kwargs)[0]  # (T,)
    sequence = _cut_after_eos(sequence, model.generation_config.eos_token_id)
    # Teacher forcing over the chosen sequence: the distribution and the attention of every step at once.
    outputs = model(**inputs, decoder_input_ids=sequence[None, :-1], output_attentions=True)
    probabilities = outputs.logits[0].float().softmax(dim=-1)  # (T-1, V)
    top = probabilities.topk(min(top_k, probabilities.shape[-1]), dim=-1)
    ids = sequence.tolist()
    tokens = tokenizer.convert_ids_to_tokens(ids)
    steps = []
    for t in range(len(ids) - 1):
        chosen = ids[t + 1]
        prefix_text = tokenizer.decode(ids[1 : t + 1], skip_special_tokens=True)
        candidates = list(zip(tokenizer.convert_ids_to_tokens(top.indices[t].tolist()), top.values[t].tolist()))
        steps.append(DecodingStep(
            prefix=(tokens[0] + " " + prefix_text).rstrip(),
            token_id=chosen,
            token=tokens[t + 1],
            probability=float(probabilities[t, chosen]),
            candidates=candidates,
        ))
    cross = torch.stack([layer[0] for layer in outputs.cross_attentions]).float().cpu()  # (L, H, T-1, S)
    return TranslationExplanation(
        source=sentence,
        translation=tokenizer.decode(ids, skip_special_tokens=True),
        source_tokens=tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist()),
        target_ids=ids,
        target_tokens=tokens,
        steps=steps,
        cross_attentions=cross,
        settings=dict(generate_kwargs),
    )


def _cut_after_eos(sequence: torch.Tensor, eos_token_id: int | list[int] | None) -> torch.Tensor:
    """``generate()`` pads finished sequences; keep the decoder start token up to and including the first ``</s>``."""
    if eos_token_id is None:
        return sequence
    eos = torch.tensor(eos_token_id if isinstance(eos_token_id, list) else [eos_token_id], device=sequence.device)
    hits = torch.isin(sequence[1:], eos).nonzero()
    return sequence if len(hits) == 0 else sequence[: int(hits[0]) + 2]


def save_cross_attention_heatmap(
    explanation: TranslationExplanation, path: str | os.PathLike, layer: int | str = -1
) -> Path:
    """Draw the cross-attention as a PNG: source tokens (columns) × generated tokens (rows), averaged over heads.

    Args:
        explanation: from :func:`explain_translation`.
        path: the PNG to write (folders are created).
        layer: a decoder layer index (default the last), or ``"all"`` for one panel per layer.

    Example::

        >>> save_cross_attention_heatmap(explanation, "outputs/attention.png", layer="all")   # doctest: +SKIP
        PosixPath('outputs/attention.png')
    """
    attentions = explanation.cross_attentions.mean(dim=1)  # (L, T, S), averaged over heads
    num_layers = attentions.shape[0]
    if layer == "all":
        layers = list(range(num_layers))
    elif isinstance(layer, int) and -num_layers <= layer < num_layers:
        layers = [layer % num_layers]
    else:
        raise ValueError(f"layer={layer!r} is invalid: expected 'all' or an index in [-{num_layers}, {num_layers})")
    rows, columns = explanation.target_tokens[1:], explanation.source_tokens
    cell = 0.35
    figure, axes = new_figure(
        1, len(layers),
        figsize=(max(3.0, cell * len(columns) + 1.5) * len(layers), max(2.5, cell * len(rows) + 1.5)),
    )
    for axis, index in zip(axes[0], layers):
        image = axis.imshow(attentions[index].numpy(), cmap="viridis", vmin=0.0, aspect="auto")
        axis.set_xticks(range(len(columns)), columns, rotation=90, fontsize=8)
        axis.set_yticks(range(len(rows)), rows, fontsize=8)
        axis.set_xlabel("source token")
        axis.set_ylabel("generated token")
        axis.set_title(f"cross-attention, layer {index + 1}/{num_layers}, mean of heads", fontsize=9)
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    return _save(figure, path)


def cross_attention_figure(explanation: TranslationExplanation, layer: int = -1):
    """The last-layer heatmap as a matplotlib figure (for loggers); see :func:`save_cross_attention_heatmap`."""
    attention = explanation.cross_attentions[layer].mean(dim=0)  # (T, S)
    figure, axes = new_figure(figsize=(max(3.0, 0.35 * attention.shape[1] + 1.5),
                                       max(2.5, 0.35 * attention.shape[0] + 1.5)))
    axis = axes[0][0]
    axis.imshow(attention.numpy(), cmap="viridis", vmin=0.0, aspect="auto")
    axis.set_xticks(range(attention.shape[1]), explanation.source_tokens, rotation=90, fontsize=8)
    axis.set_yticks(range(attention.shape[0]), explanation.target_tokens[1:], fontsize=8)
    return figure


# -------------------------------------------------------------------------------------------------------------- images
@dataclass
class ImageExplanation:
    """What :func:`explain_image` found: top-k labels and scores, the rollout heatmap and the image the model saw."""

    labels: list[str]
    scores: list[float]
    heatmap: torch.Tensor  # (h, w) in [0, 1], the token grid
    image: Any  # PIL image of the processed pixels (resized / cropped as the model saw them)

    def overlay(self, alpha: float = 0.5):
        """The heatmap (stretched to its own min..max) blended over the image, as a PIL image."""
        from ..attention_rollout import overlay_heatmap

        return overlay_heatmap(self.image, stretch(self.heatmap), alpha=alpha)


def stretch(heatmap: torch.Tensor) -> torch.Tensor:
    """Map a heatmap to [0, 1] by its own minimum and maximum, so that a nearly flat rollout still shows where it is
    highest (a flat one stays flat at 0)."""
    low, high = heatmap.amin(), heatmap.amax()
    return (heatmap - low) / (high - low) if high > low else torch.zeros_like(heatmap)


@torch.no_grad()
def explain_image(model: Any, image_processor: Any, image: Any, top_k: int = 5) -> ImageExplanation:
    """Classify one image and compute its attention rollout over the pixels the model saw.

    Example::

        >>> explanation = explain_image(model, processor, Image.open("cat.jpg"))   # doctest: +SKIP
        >>> explanation.labels[0], save_rollout_overlay(explanation, "cat_rollout.png")   # doctest: +SKIP
    """
    from ..attention_rollout import attention_rollout_heatmap

    device = next(model.parameters()).device
    pixel_values = image_processor(image, return_tensors="pt")["pixel_values"].to(device)  # (1, C, H, W)
    probabilities = model(pixel_values).logits[0].float().softmax(dim=-1)
    top = probabilities.topk(min(top_k, probabilities.shape[-1]))
    id2label = model.config.id2label
    heatmap = attention_rollout_heatmap(model, pixel_values)[0].cpu()
    return ImageExplanation(
        labels=[str(id2label.get(int(index), int(index))) for index in top.indices],
        scores=top.values.tolist(),
        heatmap=heatmap,
        image=pixels_to_image(pixel_values[0].cpu(), image_processor),
    )


def pixels_to_image(pixel_values: torch.Tensor, image_processor: Any, min_size: int = 224):
    """Undo the processor's normalisation and rescaling of ``(C, H, W)`` pixels; returns a PIL RGB image, upscaled
    (nearest) so that its shorter side is at least ``min_size`` pixels."""
    from PIL import Image

    pixels = pixel_values.float()
    if getattr(image_processor, "do_normalize", False):
        mean = torch.tensor(image_processor.image_mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(image_processor.image_std, dtype=torch.float32).view(-1, 1, 1)
        pixels = pixels * std + mean
    if not getattr(image_processor, "do_rescale", True):  # pixels are still in 0..255
        pixels = pixels / 255.0
    if pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1)
    array = (pixels[:3].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    picture = Image.fromarray(array, mode="RGB")
    scale = max(1, -(-min_size // min(picture.size)))
    return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST) if scale > 1 else picture


def save_rollout_overlay(explanation: ImageExplanation, path: str | os.PathLike, alpha: float = 0.5) -> Path:
    """Save the image, the rollout overlay and the top labels side by side as a PNG.

    Example::

        >>> save_rollout_overlay(explain_image(model, processor, image), "rollout.png")   # doctest: +SKIP
        PosixPath('rollout.png')
    """
    figure, axes = new_figure(1, 2, figsize=(7.5, 3.8))
    left, right = axes[0]
    left.imshow(explanation.image)
    left.set_title("input (as the model saw it)", fontsize=9)
    width, height = explanation.image.size
    right.imshow(explanation.image)
    shown = right.imshow(stretch(explanation.heatmap).numpy(), cmap="jet", alpha=alpha, interpolation="bilinear",
                         extent=(0, width, height, 0), vmin=0.0, vmax=1.0)
    figure.colorbar(shown, ax=right, fraction=0.046, pad=0.04, label="rollout (min..max)")
    title = ", ".join(f"{label} {score:.2f}" for label, score in zip(explanation.labels[:3], explanation.scores[:3]))
    right.set_title(f"rollout: {title}", fontsize=8)
    for axis in (left, right):
        axis.axis("off")
    return _save(figure, path)


# ------------------------------------------------------------------------------------------------------------ plotting
def new_figure(rows: int = 1, columns: int = 1, **figure_kwargs: Any):
    """A matplotlib ``Figure`` drawn by the Agg (file) canvas, and its axes; pyplot and its global backend are not
    touched, so this works without a display, in worker processes and beside a notebook's own backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**figure_kwargs)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False)


def figure_to_array(figure):
    """The figure rendered as a ``(H, W, 3)`` uint8 numpy array (for TensorBoard / W&B)."""
    import numpy as np

    figure.tight_layout()
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def _save(figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path
