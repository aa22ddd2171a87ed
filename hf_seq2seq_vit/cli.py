"""``hf-seq2seq-vit``: translate a file, classify images, explain a prediction, export a checkpoint, train.

    hf-seq2seq-vit translate outputs/demo-model -i sentences.txt -o translations.txt --num-beams 4
    cat sentences.txt | hf-seq2seq-vit translate user/my-translator > translations.txt
    hf-seq2seq-vit classify outputs/cifar10-model photos/ "more/*.png" -o labels.csv --top-k 3
    hf-seq2seq-vit explain outputs/demo-model "A man is riding a bicycle." -o attention.png
    hf-seq2seq-vit export runs/best.ckpt outputs/my-model
    hf-seq2seq-vit train fit --config configs/demo_translation_cpu.yaml

``python -m hf_seq2seq_vit ...`` is the same program. MODEL is an exported folder (``hf-seq2seq-vit export``) or a
Hub model id. Errors (a missing file, a folder that is not a model) are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import glob
import io
import itertools
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

logger = logging.getLogger(__name__)

__all__ = ["CommandLineError", "find_images", "load_model", "load_translation_engine", "main", "translate_lines"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


class CommandLineError(Exception):
    """A user error the command line reports as one line (``error: ...``) with exit status 2."""


# ------------------------------------------------------------------------------------------------------------ models
def load_model(name: str, device: str = "cpu", task: str | None = None):
    """``(task, model, tokenizer_or_image_processor)`` from an exported folder or a Hub model id, on ``device``.

    Example::

        >>> task, model, tokenizer = load_model("outputs/demo-model")   # doctest: +SKIP
        >>> task
        'translation'
    """
    from .export import ExportError, load_exported

    folder = Path(name)
    if not folder.is_dir():
        if folder.exists() or name.startswith((".", "/", "~")) or name.count("/") != 1:
            raise CommandLineError(
                f"no model folder at {name!r}; pass a folder written by `hf-seq2seq-vit export` or a Hub id (user/name)"
            )
        folder = _download(name)
    try:
        model, companion = load_exported(folder)
    except ExportError as error:
        raise CommandLineError(str(error)) from error
    found = "translation" if model.config.is_encoder_decoder else "image-classification"
    if task is not None and found != task:
        command = "translate" if found == "translation" else "classify"
        raise CommandLineError(f"{name!r} is a {found} model, not {task}; use `hf-seq2seq-vit {command}` with it")
    try:
        model.to(device)
    except (RuntimeError, AssertionError) as error:  # no such device, CUDA not compiled in, ...
        raise CommandLineError(f"cannot use --device {device!r}: {error}") from error
    return found, model, companion


def _download(repo_id: str) -> Path:
    """Download a Hub model's files (the weights as safetensors) to the local cache."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.py", "*.txt", "*.md"]))
    except Exception as error:  # offline, no such repo, gated, ...: all end the program the same way
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CommandLineError(
            f"{repo_id!r} is neither a local folder nor a model that could be downloaded from the Hub "
            f"({type(error).__name__}: {message})"
        ) from error


# ------------------------------------------------------------------------------------------------------- translation
def translate_lines(
    lines: Iterable[str],
    model: Any,
    tokenizer: Any,
    batch_size: int = 32,
    chunk_size: int = 1024,
    **generate_kwargs: Any,
) -> Iterator[str]:
    """Translate an iterable of sentences lazily, yielding one translation per input, in input order.

    Reads ``chunk_size`` lines at a time (so a file of any length is never held whole), translates each chunk's
    non-empty lines in batches of similar length (longest first, so padding is small and a too-long input fails
    early), and yields the chunk's results in the original order; blank lines give empty strings.

    Example::

        >>> list(translate_lines(["A man.", "", "Two dogs."], model, tokenizer, num_beams=4))   # doctest: +SKIP
        ['Ein Mann.', '', 'Zwei Hunde.']
    """
    import torch

    if batch_size < 1 or chunk_size < 1:
        raise CommandLineError(f"--batch-size and --chunk-size must be >= 1, got {batch_size} and {chunk_size}")
    device = model.device if not hasattr(model, "parameters") else next(model.parameters()).device  # an engine: cpu
    iterator = iter(lines)
    limit, truncated = tokenizer.model_max_length, 0
    while True:
        chunk = [line.rstrip("\r\n") for line in itertools.islice(iterator, chunk_size)]
        if not chunk:
            if truncated:  # said once, at the end: the translations of these lines miss their ends
                logger.warning("%d sentence(s) longer than the model's %d tokens were cut to fit", truncated, limit)
            return
        results = [""] * len(chunk)
        todo = [index for index, line in enumerate(chunk) if line.strip()]
        lengths = {index: len(tokenizer(chunk[index], verbose=False).input_ids) for index in todo}
        truncated += sum(length > limit for length in lengths.values())
        todo.sort(key=lambda index: -lengths[index])
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            inputs = tokenizer([chunk[index] for index in batch], return_tensors="pt", padding=True,
                               truncation=True).to(device)
            with torch.no_grad():
                output_ids = model.generate(**inputs, **generate_kwargs)
            texts = tokenizer.batch_decode(output_ids, skip_special_tokens=True)
            for index, text in zip(batch, texts):
                results[index] = " ".join(text.splitlines())  # one output line per input line, always
        yield from results


def _count_lines(path: Path) -> int:
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _progress(total: int | None, unit: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, disable=not enabled, dynamic_ncols=True)


def _open_input(path: str) -> contextlib.AbstractContextManager[Iterator[str]]:
    """The input's lines as UTF-8 text (whatever the locale); ``-`` is stdin, left open afterwards.

    Bytes that are not UTF-8 stop the run with the file and line named: replacing them would translate garbage and
    exit 0 (a legacy-encoded Korean file, e.g. CP949, is the usual case). A missing file fails here, before the
    model is loaded.
    """
    if path != "-" and not Path(path).is_file():
        raise CommandLineError(f"input file {path!r} not found" if not Path(path).exists()
                               else f"input {path!r} is not a file")
    return _utf8_lines(path)


@contextlib.contextmanager
def _utf8_lines(path: str) -> Iterator[Iterator[str]]:
    name = "standard input" if path == "-" else repr(path)

    def lines(binary) -> Iterator[str]:
        for number, raw in enumerate(binary, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CommandLineError(
                    f"{name}, line {number}, is not UTF-8 text ({error.reason} at byte {error.start}); convert it "
                    "first, e.g. iconv -f cp949 -t utf-8 FILE"
                ) from None

    if path == "-":
        yield lines(sys.stdin.buffer)
        return
    with open(path, "rb") as binary:
        yield lines(binary)


def _open_output(path: str) -> TextIO:
    """The output as UTF-8 text with ``\\n`` line ends; ``-`` is stdout, left open afterwards."""
    if path == "-":
        sys.stdout.flush()
        return _borrowed(io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n", line_buffering=True))
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CommandLineError(f"cannot write {path!r}: the folder {str(parent)!r} does not exist")
    return open(path, "w", encoding="utf-8", newline="\n")


@contextlib.contextmanager
def _borrowed(stream: io.TextIOWrapper):
    """Use a text wrapper around stdin/stdout's bytes without closing them when done."""
    try:
        yield stream
    finally:
        if stream.writable():
            stream.flush()
        stream.detach()


def _generate_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs = {}
    if args.num_beams is not None:
        kwargs["num_beams"] = args.num_beams
    if args.max_new_tokens is not None:
        kwargs["max_new_tokens"] = args.max_new_tokens
    return kwargs


def load_translation_engine(name: str, engine: str, device: str = "cpu", quantization: str | None = None,
                            threads: int | None = None):
    """``(model_or_engine, tokenizer)`` for ``translate --engine``: ``torch``, ``torch-int8`` or ``ctranslate2``.

    With ``ctranslate2``, MODEL is a folder written by ``export --format ctranslate2`` or a Hugging Face folder /
    Hub id (converted in memory); ``quantization`` is the compute type (int8, int8_float32, float32). ``threads``:
    torch's intra-op threads, or CTranslate2's batches decoded side by side (``inter_threads``, one thread each,
    which scales better than threads inside one batch: ``bench/README.md``, "Engines"); None keeps the defaults.

    Example::

        >>> engine, tokenizer = load_translation_engine("outputs/model-ct2", "ctranslate2")   # doctest: +SKIP
    """
    from .engines import CTranslate2Engine, build_engine, is_ctranslate2_folder

    if engine != "torch" and device != "cpu":
        raise CommandLineError(f"--engine {engine} runs on the CPU only; drop --device {device}")
    if quantization is not None and engine != "ctranslate2":
        raise CommandLineError("--quantization is for --engine ctranslate2 (use --engine torch-int8 for int8 torch)")
    ct2_threads = {"intra_threads": 1, "inter_threads": threads} if threads else {}
    if threads and engine != "ctranslate2":
        import torch

        torch.set_num_threads(threads)
    try:
        if engine == "ctranslate2" and Path(name).is_dir() and is_ctranslate2_folder(name):
            loaded = CTranslate2Engine(name, compute_type=quantization or "default", **ct2_threads)
            return loaded, loaded.tokenizer
        if Path(name).is_dir() and is_ctranslate2_folder(name):
            raise CommandLineError(f"{name!r} is a CTranslate2 export; translate it with --engine ctranslate2")
        _, model, tokenizer = load_model(name, device, task="translation")
        built = build_engine(engine, model, tokenizer, quantization=quantization,
                             **(ct2_threads if engine == "ctranslate2" else {}))
    except (ImportError, ValueError) as error:
        raise CommandLineError(str(error)) from error
    return (built if built is not None else model), tokenizer


def _run_translate(args: argparse.Namespace) -> int:
    source = _open_input(args.input)
    model, tokenizer = load_translation_engine(args.model, args.engine, args.device, args.quantization, args.threads)
    show = (args.input != "-" and sys.stderr.isatty()) if args.progress is None else args.progress
    total = _count_lines(Path(args.input)) if args.input != "-" else None
    with source as reader, _open_output(args.output) as target, _progress(total, "line", show) as bar:
        for translation in translate_lines(reader, model, tokenizer, batch_size=args.batch_size,
                                           chunk_size=args.chunk_size, **_generate_kwargs(args)):
            target.write(translation + "\n")
            bar.update(1)
    return 0


# ----------------------------------------------------------------------------------------------------------- images
def find_images(patterns: Iterable[str]) -> list[Path]:
    """Image files named by ``patterns``: files, folders (searched recursively) and globs, in a stable order.

    Raises:
        CommandLineError: a pattern matches nothing, or nothing at all is an image.
    """
    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        if not matches or not Path(matches[0]).exists():
            raise CommandLineError(f"no file, folder or glob match for {pattern!r}")
        for match in map(Path, matches):
            if match.is_dir():
                found.extend(sorted(p for p in match.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
            elif match.is_file():
                found.append(match)
    if not found:
        raise CommandLineError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {list(patterns)}")
    return list(dict.fromkeys(found))  # a file named twice is classified once


def _open_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise CommandLineError(f"cannot read {str(path)!r} as an image: {error}") from error


def _output_format(path: str, requested: str | None) -> str:
    if requested:
        return requested
    suffix = Path(path).suffix.lower()
    if path == "-" or suffix in (".csv", ""):
        return "csv"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    raise CommandLineError(
        f"cannot tell the format of {path!r} from its suffix; name it .csv or .jsonl, or pass --format")


def _run_classify(args: argparse.Namespace) -> int:
    import torch

    paths = find_images(args.paths)
    output_format = _output_format(args.output, args.format)
    _, model, processor = load_model(args.model, args.device, task="image-classification")
    top_k = min(args.top_k, model.config.num_labels)
    id2label = model.config.id2label
    device = next(model.parameters()).device
    show = sys.stderr.isatty() if args.progress is None else args.progress
    with _open_output(args.output) as target, _progress(len(paths), "image", show) as bar:
        writer = None
        if output_format == "csv":
            writer = csv.writer(target, lineterminator="\n")
            writer.writerow(["path"] + [f"{kind}_{rank}" for rank in range(1, top_k + 1)
                                        for kind in ("label", "score")])
        for start in range(0, len(paths), args.batch_size):
            batch = paths[start : start + args.batch_size]
            pixel_values = processor([_open_image(path) for path in batch], return_tensors="pt")["pixel_values"]
            with torch.no_grad():
                probabilities = model(pixel_values.to(device)).logits.float().softmax(dim=-1)
            top = probabilities.topk(top_k, dim=-1)
            for path, indices, scores in zip(batch, top.indices.tolist(), top.values.tolist()):
                labels = [str(id2label.get(index, index)) for index in indices]
                if writer is not None:
                    writer.writerow([str(path)] + [value for pair in zip(labels, (round(s, 6) for s in scores))
                                                   for value in pair])
                else:
                    target.write(json.dumps({"path": str(path), "labels": labels,
                                             "scores": [round(s, 6) for s in scores]}, ensure_ascii=False) + "\n")
            bar.update(len(batch))
    return 0


# ------------------------------------------------------------------------------------------------------------ explain
def _run_explain(args: argparse.Namespace) -> int:
    from .visualize import explain_image, explain_translation, save_cross_attention_heatmap, save_rollout_overlay

    image_input = Path(args.input).suffix.lower() in IMAGE_SUFFIXES
    if image_input and not Path(args.input).is_file():
        raise CommandLineError(f"image {args.input!r} not found")
    task, model, companion = load_model(args.model, args.device)
    if task == "translation":
        if image_input:
            raise CommandLineError(f"{args.model!r} is a translation model; give it a sentence, not {args.input!r}")
        explanation = explain_translation(model, companion, args.input, top_k=args.top_k, **_generate_kwargs(args))
        print(f"source:      {explanation.source}")
        print(f"translation: {explanation.translation}")
        print(explanation.format_steps())
        path = save_cross_attention_heatmap(explanation, args.output, layer="all" if args.all_layers else -1)
        print(f"cross-attention heatmap: {path}")
    else:
        if not image_input:
            raise CommandLineError(f"{args.model!r} is an image classifier; give it an image file, not {args.input!r}")
        explanation = explain_image(model, companion, _open_image(Path(args.input)), top_k=args.top_k)
        for label, score in zip(explanation.labels, explanation.scores):
            print(f"{score:.4f}  {label}")
        print(f"attention rollout overlay: {save_rollout_overlay(explanation, args.output)}")
    return 0


# ------------------------------------------------------------------------------------------- export and train hand-offs
EXPORT_EXAMPLE = ("example:\n"
                  "  hf-seq2seq-vit export runs/best.ckpt outputs/my-model [--push-to-hub user/my-model]\n"
                  "  hf-seq2seq-vit export runs/best.ckpt outputs/model-ct2 --format ctranslate2 --quantization int8\n"
                  "  hf-seq2seq-vit export runs/cifar10.ckpt outputs/cifar10-onnx --format onnx\n")
TRAIN_EXAMPLE = ("example:\n"
                 "  hf-seq2seq-vit train fit --config configs/demo_translation_cpu.yaml --trainer.max_epochs 2\n"
                 "  hf-seq2seq-vit train predict --config CONFIG --ckpt_path best.ckpt --data.predict_path in.txt\n")


def _run_export(argv: list[str]) -> int:
    from .export import main as export_main

    if any(flag in argv for flag in ("-h", "--help")):
        print(EXPORT_EXAMPLE)
    return export_main(argv)


def _training_main():
    """The LightningCLI entry point: inside the package if it lives there, else the repository's ``train.py``."""
    import importlib
    import importlib.util

    for module_name in ("hf_seq2seq_vit.lightning.cli", "hf_seq2seq_vit.train"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        if hasattr(module, "main"):
            return module.main
    script = Path(__file__).resolve().parents[1] / "train.py"
    if not script.is_file():
        raise CommandLineError("training needs the source checkout's train.py (git clone the repository)")
    spec = importlib.util.spec_from_file_location("hf_seq2seq_vit_train_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _run_train(argv: list[str]) -> int:
    if any(flag in argv for flag in ("-h", "--help")) or not argv:
        print(TRAIN_EXAMPLE)
        if not argv:
            return 0
    training_main = _training_main()
    # LightningCLI reads sys.argv itself (and warns when given args beside a non-empty sys.argv).
    saved, sys.argv = sys.argv, ["hf-seq2seq-vit train", *argv]
    try:
        training_main()
    finally:
        sys.argv = saved
    return 0


# ------------------------------------------------------------------------------------------------------- the parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-seq2seq-vit",
        description="Translate, classify, explain, export and train with hf-seq2seq-vit models.",
        epilog=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, epilog=f"example:\n  {example}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    def model_and_device(command: argparse.ArgumentParser) -> None:
        command.add_argument("model", metavar="MODEL", help="exported model folder or Hub model id (user/name)")
        command.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default cpu)")

    def decoding(command: argparse.ArgumentParser) -> None:
        command.add_argument("--num-beams", type=_positive, help="beam size (default: the model's generation config)")
        command.add_argument("--max-new-tokens", type=_positive, help="longest translation, in tokens")

    translate = add("translate", "Translate sentences, one per line, keeping the order and the empty lines.",
                    "hf-seq2seq-vit translate outputs/demo-model -i sentences.txt -o out.txt --num-beams 4\n"
                    "  echo 'A man is riding a bicycle.' | hf-seq2seq-vit translate outputs/demo-model")
    model_and_device(translate)
    translate.add_argument("-i", "--input", default="-", help="text file, one sentence per line; - for stdin (default)")
    translate.add_argument("-o", "--output", default="-", help="file to write; - for stdout (default)")
    translate.add_argument("--batch-size", type=_positive, default=32, help="sentences per generate() call (32)")
    translate.add_argument("--chunk-size", type=_positive, default=1024,
                           help="lines read at a time; sorted by length within a chunk (1024)")
    decoding(translate)
    translate.add_argument("--engine", choices=["torch", "torch-int8", "ctranslate2"], default="torch",
                           help="torch (default); torch-int8: Linear layers in int8 (CPU); ctranslate2: CTranslate2 "
                                "(MODEL exported with --format ctranslate2, or converted on load; pip install "
                                "'hf-seq2seq-vit[ct2]')")
    translate.add_argument("--quantization", choices=["float32", "int8", "int8_float32"],
                           help="--engine ctranslate2: the compute type (default: as the model is stored)")
    translate.add_argument("--threads", type=_positive,
                           help="CPU threads: torch's, or with --engine ctranslate2 batches decoded side by side "
                                "(default: the libraries' own)")
    _progress_flags(translate, "default: on for a file input when stderr is a terminal")
    translate.set_defaults(run=_run_translate)

    classify = add("classify", "Classify images (files, folders, globs) into a CSV or JSONL of top-k labels.",
                   "hf-seq2seq-vit classify outputs/cifar10-model photos/ 'more/*.png' -o labels.jsonl --top-k 3")
    model_and_device(classify)
    classify.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders (recursive) or globs")
    classify.add_argument("-o", "--output", default="-", help="file to write (.csv or .jsonl); - for stdout (CSV)")
    classify.add_argument("--format", choices=["csv", "jsonl"], help="output format (default: from the suffix)")
    classify.add_argument("--top-k", type=_positive, default=5, help="labels per image (5)")
    classify.add_argument("--batch-size", type=_positive, default=32, help="images per forward pass (32)")
    _progress_flags(classify, "default: on when stderr is a terminal")
    classify.set_defaults(run=_run_classify)

    explain = add("explain", "Show decoding step by step with a cross-attention heatmap, or an image's attention "
                  "rollout, as a PNG.",
                  "hf-seq2seq-vit explain outputs/demo-model 'A man is riding a bicycle.' -o attention.png\n"
                  "  hf-seq2seq-vit explain outputs/cifar10-model cat.png -o rollout.png")
    model_and_device(explain)
    explain.add_argument("input", metavar="SENTENCE_OR_IMAGE", help="a sentence (translation) or an image file")
    explain.add_argument("-o", "--output", default="explain.png", help="PNG to write (explain.png)")
    explain.add_argument("--top-k", type=_positive, default=5, help="candidates per step / labels (5)")
    explain.add_argument("--all-layers", action="store_true", help="one heatmap per decoder layer, not just the last")
    decoding(explain)
    explain.set_defaults(run=_run_explain)

    sub.add_parser("export", help="Export a Lightning checkpoint as a Hugging Face folder (see `export --help`).",
                   add_help=False)
    sub.add_parser("train", help="Train / validate / test / predict with the LightningCLI (see `train --help`).",
                   add_help=False)
    return parser


def _progress_flags(command: argparse.ArgumentParser, default: str) -> None:
    group = command.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help=f"show a progress bar on stderr ({default})")
    group.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 a user error reported on one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from transformers.utils import logging as transformers_logging

    verbosity, bars = transformers_logging.get_verbosity(), transformers_logging.is_progress_bar_enabled()
    try:
        if argv and argv[0] == "export":  # these two keep their own argument parsers (and transformers' messages)
            return _run_export(argv[1:])
        if argv and argv[0] == "train":
            return _run_train(argv[1:])
        # transformers' advice to developers (e.g. "both max_new_tokens and max_length are set" when
        # --max-new-tokens overrides the exported max_length) and its "Loading weights" bars are noise here:
        # stderr carries our progress bar, notes and errors.
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        args = build_parser().parse_args(argv)
        return args.run(args)
    except CommandLineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `... | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:  # main() may be called from Python (tests, the demo): leave transformers' logging as it was
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()


if __name__ == "__main__":
    sys.exit(main())
