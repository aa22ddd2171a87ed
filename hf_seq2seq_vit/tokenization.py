"""Train subword tokenizers for translation and wrap them as ``PreTrainedTokenizerFast``.

The tokenizers built here are plain ``tokenizers`` pipelines saved as ``tokenizer.json``, so a folder written
with ``save_pretrained`` loads back with ``AutoTokenizer.from_pretrained`` and no custom class::

    >>> from hf_seq2seq_vit.tokenization import train_tokenizer
    >>> tok = train_tokenizer(["A man rides a bike.", "Ein Mann fährt Fahrrad."] * 50, vocab_size=120)
    >>> tok.decode(tok("A man rides a bike.").input_ids, skip_special_tokens=True)
    'A man rides a bike.'

Pipeline: NFKC normalisation, every run of whitespace (tabs, newlines, several spaces) folded into one space and
the ends stripped -> SentencePiece-style ``▁`` (Metaspace) word boundaries, punctuation split
off -> BPE or unigram subwords -> ``</s>`` appended to every sequence. Metaspace is used instead of
byte-level BPE so that Korean (or any non-Latin script) decodes to clean text; characters never seen in
training become ``<unk>`` rather than byte pieces.

Token ids are fixed, matching the model config (``pad_token_id=0, bos_token_id=1, eos_token_id=2,
decoder_start_token_id=1``): ``<pad>``=0, ``<s>``=1, ``</s>``=2, ``<unk>``=3, then any language tags
(``<2en>``, ``<2de>``, ...), then the learned subwords. The tokenizer never adds ``<s>``: the model prepends
it as the decoder start token when it shifts the labels right.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import os
import zlib
from collections.abc import Iterable, Iterator

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)
PAD_TOKEN_ID, BOS_TOKEN_ID, EOS_TOKEN_ID, UNK_TOKEN_ID = 0, 1, 2, 3
TOKENIZER_MODELS = ("bpe", "unigram")
METASPACE = "▁"

__all__ = [
    "BOS_TOKEN_ID",
    "EOS_TOKEN_ID",
    "PAD_TOKEN_ID",
    "SPECIAL_TOKENS",
    "TOKENIZER_MODELS",
    "UNK_TOKEN_ID",
    "load_tokenizer",
    "normalize_whitespace",
    "read_corpus_lines",
    "read_text_lines",
    "train_separate_vocab_tokenizer",
    "train_tokenizer",
    "train_translation_tokenizers",
]


def normalize_whitespace(text: str) -> str:
    """Fold every run of whitespace (tab, newline, several spaces) into one space and strip the ends.

    The tokenizers trained here do the same in their normalizer; this is for text that meets an older tokenizer.

    Example::

        >>> normalize_whitespace("A man\\nin  a\\tred shirt ")
        'A man in a red shirt'
    """
    return " ".join(text.split())


def whitespace_normalizer() -> normalizers.Normalizer:
    """NFKC, then whitespace runs -> one space, then strip: a tab or newline never becomes ``<unk>`` glued to a word."""
    return normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()])


def read_corpus_lines(path: str | os.PathLike, limit: int | None = None) -> list[str]:
    """All lines of a UTF-8 text file (``.gz`` is decompressed), without line ends; empty lines are kept.

    A file that is not UTF-8, or a truncated or corrupt ``.gz``, fails with a ``ValueError`` that names the file,
    the line and what to do (``datasets`` and ``gzip`` name neither).

    Example::

        >>> read_corpus_lines("hf_seq2seq_vit/bundled/multi30k/train.en.gz", limit=1)
        ['Two young, White males are outside near many bushes.']
    """
    path = os.fspath(path)
    lines: list[str] = []
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as handle:
            for raw in handle:
                if limit is not None and len(lines) >= limit:
                    break
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ValueError(
                        f"{path!r}, line {len(lines) + 1}: the byte {raw[error.start:error.start + 1]!r} at offset "
                        f"{error.start} of the line is not UTF-8; save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                    ) from None
                lines.append(text.rstrip("\r\n"))
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(
            f"{path!r} is a truncated or corrupt gzip file ({error}; read {len(lines)} lines before it broke off); "
            "download or compress it again"
        ) from None
    if lines:  # a byte-order mark is not text
        lines[0] = lines[0].removeprefix("\ufeff")
    return lines


def read_text_lines(path: str | os.PathLike) -> Iterator[str]:
    """Yield the non-blank lines of a UTF-8 text file (``.gz`` is decompressed), without the newline.

    Errors name the file and line, as in :func:`read_corpus_lines`.

    Example::

        >>> lines = read_text_lines("hf_seq2seq_vit/bundled/multi30k/train.en.gz")
        >>> next(lines)
        'Two young, White males are outside near many bushes.'
    """
    for line in read_corpus_lines(path):
        if line.strip():
            yield line


def train_tokenizer(
    texts: Iterable[str] | None = None,
    files: list[str] | None = None,
    vocab_size: int = 8000,
    model: str = "bpe",
    min_frequency: int = 2,
    language_tags: list[str] | None = None,
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """Train a BPE or unigram tokenizer on strings and/or text files and wrap it for transformers.

    Args:
        texts: any iterable of strings: a list, a generator, a ``datasets`` column (``dataset["en"]``).
            Iterables of string batches (lists of strings) are flattened. Blank strings are skipped.
        files: paths of UTF-8 text files (or one path), one sentence a line; ``.gz`` files are decompressed.
            Used together with ``texts`` when both are given.
        vocab_size: target vocabulary size, special tokens and language tags included. A unigram model
            needs at least one id per distinct character of the training text. BPE keeps every character
            it sees, so with many distinct characters (Korean, Chinese) the vocabulary can end up larger
            than asked; ``len(tokenizer)`` is the real size to give the model config.
        model: ``"bpe"`` or ``"unigram"``.
        min_frequency: BPE only: a merge is learned only if the pair occurs at least this often.
        language_tags: extra special tokens such as ``["<2en>", "<2de>"]`` that a multilingual model reads as
            "translate into this language"; each is a single token with ids 4, 5, ...
        model_max_length: the longest sequence the model takes; ``truncation=True`` cuts to it.

    Returns:
        A ``PreTrainedTokenizerFast`` with ``<pad>``=0, ``<s>``=1, ``</s>``=2, ``<unk>``=3 that appends
        ``</s>`` to every sequence and supports ``text_target=`` (labels are the target ids + ``</s>``).

    Example::

        >>> tok = train_tokenizer(files=["hf_seq2seq_vit/bundled/multi30k/train.de.gz"], vocab_size=4000)
        >>> tok.convert_ids_to_tokens(tok("Ein Mann.").input_ids)
        ['▁Ein', '▁Mann', '.', '</s>']
        >>> _ = tok.save_pretrained("runs/tokenizer")  # AutoTokenizer.from_pretrained("runs/tokenizer") reloads it
    """
    language_tags = _validate_language_tags(language_tags)
    special_tokens = [*SPECIAL_TOKENS, *language_tags]
    _validate_training_args(vocab_size, model, min_frequency, model_max_length, len(special_tokens))
    corpus = _first_checked(_training_corpus(texts, files), "texts/files")

    backend = _untrained_backend(model)
    if model == "bpe":
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special_tokens, show_progress=False
        )
    else:
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=special_tokens, unk_token=UNK_TOKEN, show_progress=False
        )
    try:
        backend.train_from_iterator(corpus, trainer=trainer)
    except Exception as error:  # the Rust trainer raises a bare Exception
        if "not large enough to contain all chars" in str(error):
            raise ValueError(
                f"vocab_size={vocab_size} is smaller than the number of distinct characters in the training "
                f"text, which a unigram model must all keep; raise vocab_size or use model='bpe'"
            ) from error
        raise
    if backend.get_vocab_size() > vocab_size:
        logger.warning(
            "The training text has more distinct characters than vocab_size=%d allows; BPE kept them all, so "
            "the vocabulary has %d tokens. Use len(tokenizer) for the model's vocab_size.",
            vocab_size,
            backend.get_vocab_size(),
        )
    return _wrap(backend, language_tags, model_max_length)


def _wrap(backend: Tokenizer, language_tags: list[str], model_max_length: int) -> PreTrainedTokenizerFast:
    """The trained ``backend`` with ``</s>`` appended to every sequence, as a ``PreTrainedTokenizerFast``."""
    special_tokens = [*SPECIAL_TOKENS, *language_tags]
    # The trainer assigns ids in the order of `special_tokens`; the model config relies on these ids.
    ids = [backend.token_to_id(token) for token in special_tokens]
    if ids != list(range(len(special_tokens))):
        raise RuntimeError(f"The trainer gave the special tokens {special_tokens} the ids {ids}, not 0, 1, 2, ...")

    # `</s>` is added by the post-processor stored in tokenizer.json, which is what survives save/load
    # (transformers does not save `add_eos_token` in tokenizer_config.json).
    backend.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS_TOKEN}",
        pair=f"$A {EOS_TOKEN} $B:1 {EOS_TOKEN}:1",
        special_tokens=[(EOS_TOKEN, EOS_TOKEN_ID)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        extra_special_tokens=language_tags,
        model_max_length=model_max_length,
        padding_side="right",
        truncation_side="right",
        # The WordPiece-era clean-up deletes spaces before punctuation ("a ." -> "a."); decode must give back
        # exactly what was encoded.
        clean_up_tokenization_spaces=False,
    )


def train_translation_tokenizers(
    src_texts: Iterable[str],
    tgt_texts: Iterable[str],
    vocab_size: int = 8000,
    joint: bool = True,
    model: str = "bpe",
    min_frequency: int = 2,
    language_tags: list[str] | None = None,
    model_max_length: int = 512,
) -> tuple[PreTrainedTokenizerFast, PreTrainedTokenizerFast]:
    """Train the tokenizer(s) for a translation pair: one shared (joint) vocabulary, or one per language.

    ``joint=True`` (the package's main path) trains one tokenizer on both sides and returns it twice, so
    ``src_tok is tgt_tok``. One call then prepares a training batch::

        tok(src_texts, text_target=tgt_texts, truncation=True)
        # -> input_ids (source ids + </s>), attention_mask, labels (target ids + </s>)

    The model builds the decoder input by shifting the labels right behind ``<s>`` (decoder_start_token_id=1).
    With ``padding=True`` the labels are padded with ``<pad>`` (0); the data collator replaces those with -100
    so the loss ignores them. A shared vocabulary also lets the model tie the encoder and decoder embeddings.
    Language tags (joint only) go in front of the source text, e.g. ``"<2de> A man rides a bike."``.

    ``joint=False`` trains a source tokenizer on ``src_texts`` and a target tokenizer on ``tgt_texts``,
    each with ``vocab_size`` tokens. Encode the two sides separately::

        batch = src_tok(src_texts)
        batch["labels"] = tgt_tok(text_target=tgt_texts)["input_ids"]

    and save the target tokenizer in its own folder, since a model folder holds one tokenizer.

    Example::

        >>> src_tok, tgt_tok = train_translation_tokenizers(["A man."] * 20, ["Ein Mann."] * 20, vocab_size=60)
        >>> src_tok is tgt_tok
        True
        >>> sorted(src_tok("A man.", text_target="Ein Mann."))
        ['attention_mask', 'input_ids', 'labels']
    """
    if src_texts is None:
        raise ValueError("src_texts is None; pass an iterable of source sentences")
    if tgt_texts is None:
        raise ValueError("tgt_texts is None; pass an iterable of target sentences")
    options = dict(vocab_size=vocab_size, model=model, min_frequency=min_frequency, model_max_length=model_max_length)
    if joint:
        # Each side is checked for emptiness on its own, so a forgotten target column is not hidden by the source.
        src_lines = _first_checked(_iter_strings(src_texts, "src_texts"), "src_texts")
        tgt_lines = _first_checked(_iter_strings(tgt_texts, "tgt_texts"), "tgt_texts")
        tokenizer = train_tokenizer(
            texts=itertools.chain(src_lines, tgt_lines), language_tags=language_tags, **options
        )
        return tokenizer, tokenizer
    if language_tags:
        raise ValueError(
            "language_tags is only supported with joint=True (the tags select the target language of a shared "
            "vocabulary); drop language_tags or set joint=True"
        )
    src_tokenizer = train_tokenizer(texts=_iter_strings(src_texts, "src_texts"), **options)
    tgt_tokenizer = train_tokenizer(texts=_iter_strings(tgt_texts, "tgt_texts"), **options)
    return src_tokenizer, tgt_tokenizer


def train_separate_vocab_tokenizer(
    texts: dict[str, Iterable[str]],
    vocab_sizes: dict[str, int],
    model: str = "bpe",
    min_frequency: int = 2,
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """One tokenizer whose vocabulary is the union of vocabularies trained on each language separately.

    A joint vocabulary is learned on both sides together, so the language with more distinct characters (Korean
    has over a thousand syllables) or more text decides how many subwords the other one gets. Here each language
    gets its own budget: a subword model is trained per language with ``vocab_sizes[lang]`` tokens and the two are
    merged into one model of the same kind, saved in one ``tokenizer.json`` (nothing extra to ship; the model
    keeps one shared embedding table). Merging: the special tokens keep ids 0-3, then every language's tokens
    follow in its own order, a token both have kept once. Unigram pieces keep their log-probability (the higher one
    when both have it); BPE merges are interleaved by rank (first of each language, then second, ...), which
    tokenizes each language exactly as its own model does wherever the scripts differ (Hangul vs Latin) and shares
    only what both learned (digits, punctuation, names written in Latin letters).

    Args:
        texts: language -> its training sentences, e.g. ``{"ko": dataset["ko"], "en": dataset["en"]}``.
        vocab_sizes: language -> its vocabulary size (special tokens included); same keys as ``texts``.
        model, min_frequency, model_max_length: as in :func:`train_tokenizer`.

    Example::

        >>> tok = train_separate_vocab_tokenizer({"ko": ["나는 사과를 좋아해요."] * 20, "en": ["I like apples."] * 20},
        ...                                      {"ko": 40, "en": 40})
        >>> tok.decode(tok("나는 사과를 좋아해요.").input_ids, skip_special_tokens=True)
        '나는 사과를 좋아해요.'
    """
    if not isinstance(texts, dict) or not isinstance(vocab_sizes, dict) or set(texts) != set(vocab_sizes):
        raise ValueError(f"texts and vocab_sizes must be dicts with the same languages as keys, e.g. {{'ko': 4000, "
                         f"'en': 2000}}; got the languages {sorted(texts) if isinstance(texts, dict) else texts!r} "
                         f"and {sorted(vocab_sizes) if isinstance(vocab_sizes, dict) else vocab_sizes!r}")
    if len(texts) < 2:
        raise ValueError(f"train_separate_vocab_tokenizer needs two or more languages, got {sorted(texts)}; use "
                         "train_tokenizer for one")
    parts = []
    for lang, lang_texts in texts.items():
        try:
            tokenizer = train_tokenizer(_first_checked(_iter_strings(lang_texts, f"texts[{lang!r}]"), f"texts[{lang!r}]"),
                                        vocab_size=vocab_sizes[lang], model=model, min_frequency=min_frequency)
        except ValueError as error:
            raise ValueError(f"vocab_sizes[{lang!r}]: {error}") from error
        parts.append(json.loads(tokenizer.backend_tokenizer.to_str()))
    merged = dict(parts[0])
    merged["model"] = (_merge_unigram if model == "unigram" else _merge_bpe)([part["model"] for part in parts])
    return _wrap(Tokenizer.from_str(json.dumps(merged)), [], model_max_length)


def _merge_unigram(models_: list[dict]) -> dict:
    scores: dict[str, float] = {}
    for model in models_:
        for piece, score in model["vocab"]:
            scores[piece] = max(score, scores.get(piece, score)) if piece not in SPECIAL_TOKENS else 0.0
    order = list(SPECIAL_TOKENS) + [piece for piece in dict.fromkeys(
        piece for model in models_ for piece, _ in model["vocab"]) if piece not in SPECIAL_TOKENS]
    return {**models_[0], "vocab": [[piece, scores[piece]] for piece in order], "unk_id": UNK_TOKEN_ID}


def _merge_bpe(models_: list[dict]) -> dict:
    tokens = list(SPECIAL_TOKENS) + [token for token in dict.fromkeys(
        token for model in models_ for token in sorted(model["vocab"], key=model["vocab"].get))
        if token not in SPECIAL_TOKENS]
    merges = []
    for rank_merges in itertools.zip_longest(*(model["merges"] for model in models_)):
        merges.extend(tuple(merge) if isinstance(merge, list) else tuple(merge.split(" "))
                      for merge in rank_merges if merge is not None)
    merges = [list(merge) for merge in dict.fromkeys(merges)]
    return {**models_[0], "vocab": {token: index for index, token in enumerate(tokens)}, "merges": merges}


def load_tokenizer(path: str | os.PathLike) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved with ``save_pretrained`` (a tokenizer or model folder with ``tokenizer.json``).

    Equivalent to ``AutoTokenizer.from_pretrained(path)`` but fails with a message that says what is missing
    and how to create it, instead of a stack trace from deep inside transformers.

    Example::

        >>> tok = train_tokenizer(["Ein Mann."] * 20, vocab_size=30)
        >>> _ = tok.save_pretrained("runs/tokenizer")
        >>> load_tokenizer("runs/tokenizer")("Ein Mann.").input_ids[-1]
        2
    """
    path = os.fspath(path)
    hint = (
        "Train one with hf_seq2seq_vit.tokenization.train_tokenizer(...) and save it there with "
        "tokenizer.save_pretrained(path)"
    )
    if not os.path.exists(path):
        raise FileNotFoundError(f"No tokenizer folder at {path!r}. {hint}.")
    if not os.path.isdir(path):
        raise ValueError(f"load_tokenizer expects a folder written by save_pretrained, got the file {path!r}")
    if not os.path.isfile(os.path.join(path, "tokenizer.json")):
        found = sorted(os.listdir(path))
        raise FileNotFoundError(
            f"The folder {path!r} has no tokenizer.json (it contains {found or 'nothing'}). {hint}; "
            f"a model saved without its tokenizer needs tokenizer.save_pretrained on the same folder."
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as error:  # json's, tokenizers' (a bare Exception from Rust) and transformers' errors name no file
        raise ValueError(
            f"{os.path.join(path, 'tokenizer.json')!r} is not a valid tokenizer file ({type(error).__name__}: "
            f"{error}). Save the tokenizer again with tokenizer.save_pretrained(path), or export the model again."
        ) from error
    if json.loads(tokenizer.backend_tokenizer.to_str()).get("normalizer") == {"type": "NFKC"}:
        # Saved before whitespace was normalised (a tab or newline became <unk> glued to its word). Such a tokenizer
        # was trained on single-spaced lines, so folding whitespace changes nothing else.
        tokenizer.backend_tokenizer.normalizer = whitespace_normalizer()
    return tokenizer


def _untrained_backend(model: str) -> Tokenizer:
    if model == "bpe":
        # byte_fallback stays off: unseen characters become <unk>, never raw byte pieces in decoded text.
        backend = Tokenizer(models.BPE(unk_token=UNK_TOKEN, fuse_unk=True, byte_fallback=False))
    else:
        backend = Tokenizer(models.Unigram())
    # NFKC folds compatibility forms (full-width Latin, composed/decomposed Hangul jamo) into one spelling; a tab
    # or newline inside a sentence is a word boundary like a space, not an unknown character glued to its word.
    backend.normalizer = whitespace_normalizer()
    # "always" marks every word start, the first one included; the decoder drops that first space again.
    # Punctuation is then split off so that "Mann", "Mann." and "Mann," share one subword. Spaces are already
    # explicit ▁ marks at that point, so the split does not change what decode gives back.
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always"),
            pre_tokenizers.Punctuation(behavior="isolated"),
        ]
    )
    backend.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    return backend


def _validate_language_tags(language_tags: list[str] | None) -> list[str]:
    if language_tags is None:
        return []
    if isinstance(language_tags, str):
        raise ValueError(f"language_tags must be a list of strings, e.g. ['<2en>', '<2de>'], got {language_tags!r}")
    tags = list(language_tags)
    for tag in tags:
        if not isinstance(tag, str) or not tag or any(char.isspace() for char in tag):
            raise ValueError(f"language_tags must be non-empty strings without spaces, e.g. '<2de>'; got {tag!r}")
        if tag in SPECIAL_TOKENS:
            raise ValueError(f"language_tags must not repeat the special tokens {list(SPECIAL_TOKENS)}; got {tag!r}")
    if len(set(tags)) != len(tags):
        raise ValueError(f"language_tags has duplicates: {tags}")
    return tags


def _validate_training_args(
    vocab_size: int, model: str, min_frequency: int, model_max_length: int, num_special_tokens: int
) -> None:
    if model not in TOKENIZER_MODELS:
        raise ValueError(f"model must be one of {list(TOKENIZER_MODELS)}, got {model!r}")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise ValueError(f"vocab_size must be an int, got {vocab_size!r}")
    if vocab_size <= num_special_tokens:
        raise ValueError(
            f"vocab_size={vocab_size} leaves no room for learned tokens: the {num_special_tokens} special tokens "
            f"and language tags alone take {num_special_tokens} ids; use a few hundred or more"
        )
    if not isinstance(min_frequency, int) or isinstance(min_frequency, bool) or min_frequency < 0:
        raise ValueError(f"min_frequency must be an int >= 0, got {min_frequency!r}")
    if not isinstance(model_max_length, int) or isinstance(model_max_length, bool) or model_max_length < 1:
        raise ValueError(f"model_max_length must be a positive int, got {model_max_length!r}")


def _training_corpus(texts: Iterable[str] | None, files: list[str] | None) -> Iterator[str]:
    """Validate ``texts``/``files`` up front and return one lazy stream of their lines."""
    if texts is None and not files:
        raise ValueError("Neither texts nor files was given; pass an iterable of strings as texts or paths as files")
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    files = list(files or [])
    missing = [os.fspath(file) for file in files if not os.path.isfile(file)]
    if missing:
        raise ValueError(f"files lists paths that are not files: {missing}")
    streams = [] if texts is None else [_iter_strings(texts, "texts")]
    streams += [read_text_lines(file) for file in files]
    return itertools.chain.from_iterable(streams)


def _iter_strings(texts: Iterable[str], name: str) -> Iterator[str]:
    if isinstance(texts, str):
        raise ValueError(f"{name} must be an iterable of strings, not one string; wrap it in a list: [{name}]")
    try:
        items = iter(texts)
    except TypeError:
        raise ValueError(f"{name} must be an iterable of strings, got {type(texts).__name__}") from None
    for item in items:
        # A batched generator yields lists of strings; flatten them like `tokenizers` does.
        batch = item if isinstance(item, (list, tuple)) else [item]
        for text in batch:
            if not isinstance(text, str):
                raise ValueError(f"{name} must yield strings, got {type(text).__name__}: {text!r}")
            if text.strip():
                yield text


def _first_checked(lines: Iterator[str], name: str) -> Iterator[str]:
    """Fail before training, with a message naming the argument, if ``lines`` is empty; else yield all of it."""
    lines = iter(lines)
    try:
        first = next(lines)
    except StopIteration:
        raise ValueError(f"{name} gave no non-blank lines to train on") from None
    return itertools.chain([first], lines)
