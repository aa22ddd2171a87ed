"""Train, validate, test or predict with a YAML config: ``hf_seq2seq_vit.lightning.cli.main`` from a checkout.

    python train.py fit --config configs/demo_translation_cpu.yaml
    python train.py fit --config configs/multi30k_en_de.yaml --ckpt_path last      # resume
    python train.py fit --config configs/demo_translation_cpu.yaml --print_config  # the full, resolved config

Installed, the same entry point is ``hf-seq2seq-vit train ...`` or ``python -m hf_seq2seq_vit.lightning.cli ...``.
"""

from hf_seq2seq_vit.lightning.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
