"""train.py (LightningCLI): --print_config, and bad configs fail at start-up with a message that says what to fix."""

import importlib.util

import pytest
import yaml
from conftest import REPO

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


RECIPES = sorted(str(path.relative_to(REPO / "configs").with_suffix("")) for path in (REPO / "configs").rglob("*.yaml")
                 if path.parent.name not in ("base", "hardware", "cluster"))
TRANSLATION_RECIPES = [name for name in RECIPES if "cifar" not in name]
COMBINATIONS = ([[name] for name in RECIPES]
                + [[name, overlay] for name in TRANSLATION_RECIPES if "cpu" not in name
                   for overlay in ("cluster/slurm_ddp", "cluster/slurm_fsdp")]
                + [["cifar10_conv_vit", "cluster/slurm_ddp"], ["cpu/multi30k_en_de_cpu", "hardware/gpu"],
                   ["wmt14_en_de", "cluster/wmt14_slurm"]])


def print_config(args: list[str], capsys) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args, "--print_config"])
    assert exit_info.value.code in (0, None), capsys.readouterr().err[-2000:]
    return yaml.safe_load(capsys.readouterr().out)


def test_every_shipped_recipe_is_composed_from_the_task_base_and_a_hardware_overlay():
    assert len(RECIPES) == 18 and "multi30k_en_de" in RECIPES and "cpu/cifar10_conv_vit_cpu" in RECIPES
    for name in RECIPES:
        config = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
        assert "base_configs" in config, name


@pytest.mark.parametrize("configs", COMBINATIONS, ids="+".join)
def test_shipped_configs_parse(configs, capsys):
    config = print_config([arg for name in configs for arg in ("--config", str(REPO / "configs" / f"{name}.yaml"))],
                          capsys)
    if config["model"]["class_path"].endswith("TranslationModule"):  # the data module shards batches itself
        assert config["trainer"]["use_distributed_sampler"] is False
    assert config["trainer"]["default_root_dir"].startswith("outputs/")
    if "cluster/slurm_ddp" in configs:
        plugin = config["trainer"]["plugins"][0]
        assert plugin["class_path"].endswith("SLURMEnvironment") and plugin["init_args"]["auto_requeue"] is True
    if configs[-1] == "hardware/gpu":  # a later overlay overrides the recipe's own hardware
        assert (config["trainer"]["accelerator"], config["trainer"]["precision"]) == ("auto", "bf16-mixed")


def test_a_recipe_is_its_bases_then_its_own_keys(capsys):
    # multi30k_de_en = multi30k_en_de (= base/translation + hardware/gpu + its keys) + the swapped languages
    en_de = print_config(["--config", str(REPO / "configs" / "multi30k_en_de.yaml")], capsys)
    de_en = print_config(["--config", str(REPO / "configs" / "multi30k_de_en.yaml")], capsys)
    base = yaml.safe_load((REPO / "configs" / "base" / "translation.yaml").read_text())
    assert en_de["model"]["init_args"]["normalize_before"] is base["model"]["init_args"]["normalize_before"] is True
    assert en_de["model"]["init_args"]["d_model"] == 512 != base["model"]["init_args"]["d_model"]  # its own key wins
    assert en_de["trainer"]["precision"] == "bf16-mixed"  # from hardware/gpu.yaml
    assert (de_en["data"]["init_args"]["src_lang"], de_en["data"]["init_args"]["tgt_lang"]) == ("de", "en")
    assert de_en["model"]["init_args"] == en_de["model"]["init_args"]
    # ... and the same as writing the files out with repeated --config
    explicit = print_config([arg for name in ("base/translation", "hardware/gpu", "multi30k_en_de")
                             for arg in ("--config", str(REPO / "configs" / f"{name}.yaml"))], capsys)
    assert explicit == en_de


def test_bases_that_loop_or_are_missing_fail_with_the_file_named(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "a.yaml").write_text("base_configs: [b.yaml]\n")
    (configs / "b.yaml").write_text("base_configs: [a.yaml]\n")
    (configs / "c.yaml").write_text("base_configs: [nowhere/missing.yaml]\n")
    with pytest.raises(ValueError, match=r"b.yaml: base_configs loops back to .*a.yaml"):
        main(["fit", "--config", str(configs / "a.yaml")])
    with pytest.raises(FileNotFoundError, match=r"c.yaml: base_configs names 'nowhere/missing.yaml'"):
        main(["fit", "--config", str(configs / "c.yaml")])
