"""The `hf-seq2seq-vit` command line: translate (files, stdin/stdout, order, empty lines, unicode, streaming),
classify (files, folders, globs -> CSV / JSONL), explain, the export and train hand-offs, one-line errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.checkpoints import SAMPLE_SENTENCES, make_image_checkpoint, make_translation_checkpoint
from PIL import Image

from hf_seq2seq_vit.cli import find_images, main, translate_lines
from hf_seq2seq_vit.export import export_checkpoint

REPO = Path(__file__).resolve().parents[1]
# Blank and whitespace-only lines, unicode (umlauts, CJK, emoji), a line with a Windows line end.
LINES = [SAMPLE_SENTENCES[0], "", "Grüße aus Köln: «ein Mädchen» läuft.", "   ", "개가 눈 속에서 논다 🐕",
         SAMPLE_SENTENCES[1], "People are walking.\r", SAMPLE_SENTENCES[2], ""]
DECODING = {"num_beams": 1, "max_new_tokens": 8}


@pytest.fixture(scope="module")
def translator_folder(tmp_path_factory, tokenizer):
    folder = tmp_path_factory.mktemp("cli_translation")
    make_translation_checkpoint(folder / "t.ckpt", tokenizer)
    return export_checkpoint(folder / "t.ckpt", folder / "model")


@pytest.fixture(scope="module")
def translator(translator_folder):
    from hf_seq2seq_vit.export import load_exported

    return load_exported(translator_folder)


@pytest.fixture(scope="module")
def classifier_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_images")
    make_image_checkpoint(folder / "i.ckpt")
    return export_checkpoint(folder / "i.ckpt", folder / "model")


def one_at_a_time(model, tokenizer, lines, **generate_kwargs) -> list[str]:
    """The reference: each non-blank line translated alone with model.generate; blank lines stay blank."""
    results = []
    for line in lines:
        line = line.rstrip("\r\n")
        if not line.strip():
            results.append("")
            continue
        with torch.no_grad():
            ids = model.generate(**tokenizer([line], return_tensors="pt"), **generate_kwargs)
        results.append(tokenizer.decode(ids[0], skip_special_tokens=True))
    return results


def run_module(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "ascii", **(env or {})}
    return subprocess.run([sys.executable, "-m", "hf_seq2seq_vit", *args], input=stdin, capture_output=True,
                          text=True, encoding="utf-8", env=env, cwd=REPO, timeout=600)


def assert_one_line_error(capsys_or_text, status: int, *fragments: str) -> None:
    text = capsys_or_text if isinstance(capsys_or_text, str) else capsys_or_text.readouterr().err
    assert status == 2
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in lines[0]


# ----------------------------------------------------------------------------------------------------------- translate
def test_translate_file_keeps_order_and_empty_lines(translator_folder, translator, tmp_path):
    model, tokenizer = translator
    source = tmp_path / "in.txt"
    source.write_bytes("\n".join(LINES).encode("utf-8") + b"\n")
    target = tmp_path / "out.txt"
    # chunks of 4 lines and batches of 2: sorting by length inside a chunk must not change the order of the output
    status = main(["translate", str(translator_folder), "-i", str(source), "-o", str(target), "--batch-size", "2",
                   "--chunk-size", "4", "--num-beams", "1", "--max-new-tokens", "8", "--no-progress"])
    assert status == 0
    written = target.read_text(encoding="utf-8").split("\n")
    assert written[-1] == "" and len(written) - 1 == len(LINES)  # one line out per line in, newline-terminated
    expected = one_at_a_time(model, tokenizer, LINES, **DECODING)
    assert written[:-1] == expected
    assert [index for index, text in enumerate(expected) if text == ""] == [1, 3, 8]  # exactly the blank inputs


def test_translate_stdin_to_stdout_in_a_fresh_process(translator_folder, translator):
    model, tokenizer = translator
    # PYTHONIOENCODING=ascii in the child: the tool must still read and write UTF-8
    result = run_module("translate", str(translator_folder), "--num-beams", "1", "--max-new-tokens", "8",
                        stdin="\n".join(LINES) + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:-1] == one_at_a_time(model, tokenizer, LINES, **DECODING)


def test_translate_lines_streams_chunk_by_chunk(translator):
    model, tokenizer = translator
    consumed = []

    def endless():
        for number in range(10**9):
            consumed.append(number)
            yield SAMPLE_SENTENCES[number % 3]

    stream = translate_lines(endless(), model, tokenizer, batch_size=2, chunk_size=5, **DECODING)
    first = [next(stream) for _ in range(6)]  # the whole first chunk and one of the second
    assert len(consumed) == 10  # two chunks read, never the whole input
    assert first == one_at_a_time(model, tokenizer, [SAMPLE_SENTENCES[i % 3] for i in range(6)], **DECODING)


def test_too_long_sentences_are_cut_and_said_so_once(translator_folder, translator, tmp_path, caplog):
    model, tokenizer = translator
    long_line = " ".join(["A man is riding a bicycle."] * 20)  # far beyond the 64 tokens the model takes
    assert len(tokenizer(long_line).input_ids) > tokenizer.model_max_length
    lines = [long_line, SAMPLE_SENTENCES[1], long_line]
    with caplog.at_level("WARNING", logger="hf_seq2seq_vit.cli"):
        result = list(translate_lines(lines, model, tokenizer, chunk_size=2, **DECODING))
    with torch.no_grad():
        cut = model.generate(**tokenizer([long_line], return_tensors="pt", truncation=True), **DECODING)
    assert result[0] == result[2] == tokenizer.decode(cut[0], skip_special_tokens=True)
    assert [record.getMessage() for record in caplog.records if record.name == "hf_seq2seq_vit.cli"] == [
        f"2 sentence(s) longer than the model's {tokenizer.model_max_length} tokens were cut to fit"]


def test_translate_beam_size_reaches_generate(translator_folder, translator, tmp_path, capsys):
    model, tokenizer = translator
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SAMPLE_SENTENCES) + "\n", encoding="utf-8")
    target = tmp_path / "beam.txt"
    assert main(["translate", str(translator_folder), "-i", str(source), "-o", str(target), "--num-beams", "3",
                 "--max-new-tokens", "6", "--progress"]) == 0
    assert "3/3" in capsys.readouterr().err  # the progress bar counted the lines
    assert target.read_text(encoding="utf-8").splitlines() == one_at_a_time(
        model, tokenizer, SAMPLE_SENTENCES, num_beams=3, max_new_tokens=6)


def test_translate_errors_are_one_line(translator_folder, classifier_folder, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("A man.\n", encoding="utf-8")
    assert_one_line_error(capsys, main(["translate", str(translator_folder), "-i", str(tmp_path / "missing.txt")]),
                          "missing.txt", "not found")
    assert_one_line_error(capsys, main(["translate", str(tmp_path / "no-model"), "-i", str(source)]),
                          "no-model", "export")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(capsys, main(["translate", str(tmp_path / "empty"), "-i", str(source)]),
                          "config.json")
    assert_one_line_error(capsys, main(["translate", str(classifier_folder), "-i", str(source)]),
                          "image-classification", "classify")
    assert_one_line_error(capsys, main(["translate", str(translator_folder), "-i", str(source),
                                        "-o", str(tmp_path / "no-dir" / "out.txt")]), "no-dir", "does not exist")
    assert_one_line_error(capsys, main(["translate", str(translator_folder), "-i", str(source),
                                        "--device", "no-such-device"]), "--device", "no-such-device")


def test_translate_with_a_model_pulled_from_the_hub(translator_folder, translator, tmp_path):
    from helpers.hub_server import HubServer

    model, tokenizer = translator
    with HubServer() as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": "hf_fake_token_for_tests",
               "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf_home"), "NO_PROXY": "127.0.0.1",
               "no_proxy": "127.0.0.1"}
        push = subprocess.run([sys.executable, "-c", "import sys; from hf_seq2seq_vit.export import push_exported; "
                               "push_exported(sys.argv[1], 'user/tiny-translator')", str(translator_folder)],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
        assert push.returncode == 0, push.stderr[-3000:]
        result = run_module("translate", "user/tiny-translator", "--num-beams", "1", "--max-new-tokens", "8",
                            stdin="\n".join(LINES[:4]) + "\n", env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert any(call.startswith("GET /user/tiny-translator/resolve/") for call in hub.calls)
    assert result.stdout.split("\n")[:-1] == one_at_a_time(model, tokenizer, LINES[:4], **DECODING)


def test_unknown_hub_id_is_a_one_line_error():
    result = run_module("translate", "nobody/no-such-model-here", stdin="A man.\n")
    assert_one_line_error(result.stderr, result.returncode, "nobody/no-such-model-here", "Hub")


# ------------------------------------------------------------------------------------------------------------ classify
@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Five distinct images: two in a folder (one in a subfolder), three loose PNG/JPEG files."""
    root = tmp_path_factory.mktemp("photos")
    generator = torch.Generator().manual_seed(0)
    paths = [root / "album" / "a.png", root / "album" / "deeper" / "b.jpg", root / "c.png", root / "d.png",
             root / "e.bmp"]
    for size, path in zip((32, 40, 48, 24, 64), paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = (torch.rand(size, size, 3, generator=generator) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(path)
    (root / "album" / "notes.txt").write_text("not an image")
    return root, paths


def expected_top_k(folder, paths, k):
    from hf_seq2seq_vit.export import load_exported

    model, processor = load_exported(folder)
    rows = []
    for path in paths:
        with torch.no_grad():
            pixels = processor(Image.open(path).convert("RGB"), return_tensors="pt")["pixel_values"]
            top = model(pixels).logits[0].softmax(-1).topk(k)
        rows.append(([model.config.id2label[i] for i in top.indices.tolist()], top.values.tolist()))
    return rows


def test_find_images_takes_files_folders_and_globs(images):
    root, paths = images
    found = find_images([str(root / "album"), str(root / "[cd].png"), str(paths[4]), str(paths[2])])
    assert found == [paths[0], paths[1], paths[2], paths[3], paths[4]]  # c.png named twice, listed once


def test_classify_writes_jsonl_and_csv_in_path_order(classifier_folder, images, tmp_path):
    root, paths = images
    expected = expected_top_k(classifier_folder, paths, 3)
    jsonl = tmp_path / "labels.jsonl"
    assert main(["classify", str(classifier_folder), str(root / "album"), str(root / "*.png"), str(paths[4]),
                 "-o", str(jsonl), "--top-k", "3", "--batch-size", "2"]) == 0
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [record["path"] for record in records] == [str(path) for path in paths]
    for record, (labels, scores) in zip(records, expected):
        assert record["labels"] == labels
        assert record["scores"] == pytest.approx(scores, abs=1e-5)

    table = tmp_path / "labels.csv"
    assert main(["classify", str(classifier_folder), *map(str, paths), "-o", str(table), "--top-k", "2"]) == 0
    with table.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["path"] for row in rows] == [str(path) for path in paths]
    assert [[row["label_1"], row["label_2"]] for row in rows] == [labels[:2] for labels, _ in expected]
    assert [float(row["score_1"]) for row in rows] == pytest.approx([s[0] for _, s in expected], abs=1e-5)


def test_classify_errors_are_one_line(classifier_folder, translator_folder, images, tmp_path, capsys):
    root, paths = images
    assert_one_line_error(capsys, main(["classify", str(classifier_folder), str(root / "nothing-*.png")]),
                          "nothing-*.png")
    assert_one_line_error(capsys, main(["classify", str(classifier_folder), str(tmp_path / "gone.png")]), "gone.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    assert_one_line_error(capsys, main(["classify", str(classifier_folder), str(broken), "-o",
                                        str(tmp_path / "o.csv")]), "broken.png", "image")
    assert_one_line_error(capsys, main(["classify", str(translator_folder), str(paths[0])]), "translation")
    assert_one_line_error(capsys, main(["classify", str(classifier_folder), str(paths[0]), "-o",
                                        str(tmp_path / "o.xlsx")]), "o.xlsx", "--format")


# ---------------------------------------------------------------------------------------------- explain, export, train
def test_explain_prints_the_steps_and_writes_a_png(translator_folder, translator, tmp_path, capsys):
    model, tokenizer = translator
    picture = tmp_path / "attention.png"
    assert main(["explain", str(translator_folder), SAMPLE_SENTENCES[0], "-o", str(picture), "--num-beams", "1",
                 "--max-new-tokens", "8"]) == 0
    printed = capsys.readouterr().out
    with torch.no_grad():
        ids = model.generate(**tokenizer([SAMPLE_SENTENCES[0]], return_tensors="pt"), **DECODING)[0].tolist()
    assert f"translation: {tokenizer.decode(ids, skip_special_tokens=True)}" in printed
    assert printed.count("\n") >= len(ids) + 2  # a header and one line per step
    assert f"cross-attention heatmap: {picture}" in printed
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.size[0] > 100


def test_explain_an_image_writes_the_rollout_overlay(classifier_folder, images, tmp_path, capsys):
    _, paths = images
    picture = tmp_path / "rollout.png"
    assert main(["explain", str(classifier_folder), str(paths[0]), "-o", str(picture), "--top-k", "2"]) == 0
    labels, _ = expected_top_k(classifier_folder, paths[:1], 2)[0]
    printed = capsys.readouterr().out.splitlines()
    assert [line.split("  ", 1)[1] for line in printed[:2]] == labels
    with Image.open(picture) as image:
        assert image.format == "PNG"


def test_export_hands_over_to_the_exporter(tokenizer, tmp_path, capsys):
    make_translation_checkpoint(tmp_path / "t.ckpt", tokenizer)
    assert main(["export", str(tmp_path / "t.ckpt"), str(tmp_path / "exported"), "--no-verify"]) == 0
    assert (tmp_path / "exported" / "model.safetensors").is_file()
    assert main(["export", str(tmp_path / "missing.ckpt"), str(tmp_path / "x")]) == 2
    assert "missing.ckpt" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["translate", "classify", "explain", "export", "train"])
def test_each_help_shows_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"hf-seq2seq-vit {command} " in capsys.readouterr().out


def test_the_console_script_names_this_main():
    import importlib
    import re

    # a regular expression, not tomllib: the package supports Python 3.10, which has no tomllib
    found = re.search(r'^hf-seq2seq-vit\s*=\s*"([\w.]+):(\w+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    module_name, function = found.groups()
    assert getattr(importlib.import_module(module_name), function) is main
