"""``python -m hf_seq2seq_vit.export CKPT OUT_DIR``: see :func:`hf_seq2seq_vit.export.main`."""

import sys

from . import main

sys.exit(main())
