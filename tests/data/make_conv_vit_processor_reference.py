"""Writes conv_vit_processor_reference.npz and conv_vit_preprocessor_config_*.json from the processor in the tree.

Run once with the hand-written ConvViTImageProcessor of commit f4493a1 (before it moved onto transformers' image
processing backend) in the tree, e.g. in a `git worktree` of that commit with this file and
tests/test_conv_vit_processor_reference.py copied in: `python tests/data/make_conv_vit_processor_reference.py`.

The cases are `reference_cases()` of tests/test_conv_vit_processor_reference.py, so test and data stay in step.
"""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from test_conv_vit_processor_reference import reference_cases, run_case  # noqa: E402

from hf_seq2seq_vit import ConvViTImageProcessor  # noqa: E402


def main() -> None:
    outputs = {name: run_case(*case) for name, case in reference_cases().items()}
    np.savez_compressed(HERE / "conv_vit_processor_reference.npz", **outputs)
    for preset in ("cifar10", "imagenet"):
        settings = ConvViTImageProcessor.from_preset(preset).to_dict()
        settings.pop("auto_map", None)
        path = HERE / f"conv_vit_preprocessor_config_{preset}.json"
        path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    print({name: value.shape for name, value in outputs.items()})


if __name__ == "__main__":
    main()
