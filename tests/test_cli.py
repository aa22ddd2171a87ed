"""train.py (LightningCLI): --print_config, and bad configs fail at start-up with a message that says what to fix."""

import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = str(REPO / "configs" / "demo_translation_cpu.yaml")
_spec = importlib.util.spec_from_file_location("train", REPO / "train.py")
train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train)
main = train.main


def test_print_config_shows_the_full_resolved_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", DEMO_CONFIG, "--model.init_args.d_model=64", "--print_config"])
    assert exit_info.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["class_path"] == "hf_seq2seq_vit.lightning.translation.TranslationModule"
    assert config["model"]["init_args"]["d_model"] == 64  # the command-line override
    assert config["data"]["init_args"]["split_seed"] == 0  # a default the YAML leaves out
    assert config["trainer"]["use_distributed_sampler"] is False


def test_unknown_key_fails_before_anything_is_built(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", DEMO_CONFIG, "--model.init_args.d_modle=64"])
    assert exit_info.value.code != 0
    assert "d_modle" in capsys.readouterr().err


# jsonargparse re-raises errors from instantiating the data module inside a ValueError that quotes our message.
def test_missing_data_file_fails_at_start_up():
    with pytest.raises((FileNotFoundError, ValueError), match="No data file or folder at 'data/missing.tsv'"):
        main(["fit", "--config", DEMO_CONFIG, "--data.init_args.dataset=data/missing.tsv"])


def test_language_not_in_the_data_fails_at_start_up():
    with pytest.raises(ValueError, match=r"Language 'fr' is not in the data .* it has \['de', 'en'\]"):
        main(["fit", "--config", DEMO_CONFIG, "--data.init_args.tgt_lang=fr"])


@pytest.mark.parametrize("configs", [["multi30k_en_de"], ["multi30k_de_en"], ["ko_en_tatoeba"], ["ko_en_stylekqc"],
                                     ["ko_en_mixed"], ["multi30k_en_de", "cluster/slurm_ddp"],
                                     ["multi30k_en_de", "cluster/slurm_fsdp"]])
def test_shipped_configs_parse(configs, capsys):
    args = [arg for name in configs for arg in ("--config", str(REPO / "configs" / f"{name}.yaml"))]
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args, "--print_config"])
    assert exit_info.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["trainer"]["use_distributed_sampler"] is False
    if "cluster/slurm_ddp" in configs:
        plugin = config["trainer"]["plugins"][0]
        assert plugin["class_path"].endswith("SLURMEnvironment") and plugin["init_args"]["auto_requeue"] is True
