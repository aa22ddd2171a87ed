"""``python -m hf_seq2seq_vit``: the same program as the ``hf-seq2seq-vit`` console script (see :mod:`.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
