"""Push to and pull from a Hub, end to end, with the real huggingface_hub client against tests/helpers/hub_server.py.

Each step runs in its own fresh process, because huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE at import
time: push (export CLI with --push-to-hub, and the standard push_to_hub methods), pull (from_pretrained("user/name")
and pipeline(...) without the package), then the same loads offline from the cache the pull filled.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from helpers.fresh_process import run_fresh_python
from helpers.checkpoints import SAMPLE_SENTENCES, make_image_checkpoint, make_translation_checkpoint
from helpers.hub_server import HubServer

from hf_seq2seq_vit.export import export_checkpoint

PUSH_SCRIPT = """
import json
from hf_seq2seq_vit.export import load_exported, main
from huggingface_hub import ModelCard
codes = [main([CKPT, OUT, "--push-to-hub", "user/tiny-translator"]),
         main([IMAGE_CKPT, IMAGE_OUT, "--push-to-hub", "user/tiny-convvit"])]
# The standard transformers / huggingface_hub methods work against the same server.
model, tokenizer = load_exported(OUT)
model.push_to_hub("user/direct")
tokenizer.push_to_hub("user/direct")
ModelCard.load(OUT + "/README.md").push_to_hub("user/direct")
print(json.dumps({"codes": codes}))
"""

PULL_SCRIPT = """
import json, sys
import torch
torch.set_num_threads(1)
from transformers import AutoImageProcessor, AutoModelForImageClassification, AutoModelForSeq2SeqLM, AutoTokenizer
from transformers import pipeline
results = {}
for repo in ("user/tiny-translator", "user/direct"):
    tokenizer = AutoTokenizer.from_pretrained(repo, trust_remote_code=True)
    model = AutoModelForSeq2SeqLM.from_pretrained(repo, trust_remote_code=True).eval()
    with torch.no_grad():
        results[repo] = model.generate(**tokenizer(SENTENCES, return_tensors="pt", padding=True), num_beams=3,
                                       max_length=24).tolist()
translator = pipeline("translation", model="user/tiny-translator", trust_remote_code=True)
classifier = AutoModelForImageClassification.from_pretrained("user/tiny-convvit", trust_remote_code=True).eval()
AutoImageProcessor.from_pretrained("user/tiny-convvit", trust_remote_code=True)
with torch.no_grad():
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    results["image_logits"] = classifier(pixel_values=pixels).logits.tolist()
results["pipeline"] = translator(SENTENCES, batch_size=2)
results["package_imported"] = "hf_seq2seq_vit" in sys.modules
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def hub():
    with HubServer() as server:
        yield server


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("hub")
    translation_model = make_translation_checkpoint(root / "translation.ckpt", tokenizer, eval_results={"test_bleu": 9.5})
    image_model, _ = make_image_checkpoint(root / "image.ckpt", eval_results={"test_acc": 0.125})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # like the fresh processes, so the float arithmetic is the same
    try:
        with torch.no_grad():
            generated = translation_model.generate(**tokenizer(SAMPLE_SENTENCES, return_tensors="pt", padding=True),
                                                   num_beams=3, max_length=24)
            pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
            image_logits = image_model(pixel_values=pixels).logits
    finally:
        torch.set_num_threads(threads)
    return {"root": root, "generated": generated, "image_logits": image_logits,
            "texts": tokenizer.batch_decode(generated, skip_special_tokens=True)}


def hub_env(hub: HubServer, offline: bool = False) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": "hf_fake_token_for_tests",
            "HF_HUB_OFFLINE": "1" if offline else "0", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}


@pytest.fixture(scope="module")
def pushed(hub, checkpoints, tmp_path_factory):
    root = checkpoints["root"]
    header = (f"CKPT = {str(root / 'translation.ckpt')!r}\nOUT = {str(root / 'translator')!r}\n"
              f"IMAGE_CKPT = {str(root / 'image.ckpt')!r}\nIMAGE_OUT = {str(root / 'classifier')!r}\n")
    # The pushing process may import the package (it exports); only the pulling ones must do without it.
    result = run_fresh_python(header + PUSH_SCRIPT, tmp_path_factory.mktemp("push_home"), hub_env(hub))
    return result


@pytest.fixture(scope="module")
def pull_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pull_home")


@pytest.fixture(scope="module")
def pulled(hub, pushed, pull_home):
    header = f"SENTENCES = {SAMPLE_SENTENCES!r}\n"
    return run_fresh_python(header + PULL_SCRIPT, pull_home, hub_env(hub))


def test_push_uploads_the_exported_folder(hub, pushed, checkpoints):
    assert pushed["codes"] == [0, 0]
    for repo, folder in (("user/tiny-translator", "translator"), ("user/tiny-convvit", "classifier")):
        local = {path.name: path.read_bytes() for path in (checkpoints["root"] / folder).iterdir()}
        assert hub.repos[repo] == local  # every file, byte for byte: weights, tokenizer/processor, code, card
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= set(hub.repos["user/direct"])
    assert any(call.startswith("POST /api/models/user/tiny-translator/commit/main") for call in hub.calls)


def test_pushed_card_names_the_repo(hub, pushed):
    card = hub.repos["user/tiny-translator"]["README.md"].decode()
    assert "- name: user/tiny-translator" in card and 'model="user/tiny-translator"' in card
    assert "value: 0.125" in hub.repos["user/tiny-convvit"]["README.md"].decode()


def test_from_pretrained_pulls_the_pushed_models(pulled, checkpoints):
    assert pulled["package_imported"] is False
    assert pulled["user/tiny-translator"] == checkpoints["generated"].tolist()
    assert pulled["user/direct"] == checkpoints["generated"].tolist()
    torch.testing.assert_close(torch.tensor(pulled["image_logits"]), checkpoints["image_logits"], rtol=1e-5,
                               atol=1e-5)
    assert [item["translation_text"] for item in pulled["pipeline"]] == checkpoints["texts"]


def test_offline_mode_loads_from_the_cache_after_a_pull(hub, pulled, pull_home, checkpoints):
    calls_before = len(hub.calls)
    header = f"SENTENCES = {SAMPLE_SENTENCES!r}\n"
    offline = run_fresh_python(header + PULL_SCRIPT, pull_home, hub_env(hub, offline=True))
    assert len(hub.calls) == calls_before, "offline mode must not contact the Hub"
    assert offline["user/tiny-translator"] == checkpoints["generated"].tolist()
    assert [item["translation_text"] for item in offline["pipeline"]] == checkpoints["texts"]


def test_push_to_an_unreachable_hub_is_a_clear_error(checkpoints, tmp_path, monkeypatch):
    from hf_seq2seq_vit.export import HubExportError, push_exported

    folder = export_checkpoint(checkpoints["root"] / "translation.ckpt", tmp_path / "model", verify=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline: huggingface_hub refuses to send the request
    with pytest.raises(HubExportError, match="Pushing .* to 'user/x' .* failed: .*Check the network, the token"):
        push_exported(folder, "user/x")
    assert os.path.isfile(folder / "model.safetensors")  # the local export is kept
