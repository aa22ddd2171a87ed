#!/usr/bin/env bash
# One published GPU result on the lent H200 (a fresh, bare machine each session): install the carried wheels, run
# experiments/reproduce.py on the full config with its training capped by MAX_TIME, and leave everything under $OUT.
#
#   bash experiments/gpu_run.sh RUN [extra train.py / reproduce.py args]
#   RUN: multi30k_en_de | multi30k_de_en | ko_en_tatoeba | ko_en_stylekqc | ko_en_mixed | cifar10_conv_vit
#
# Device tool call (see experiments/README.md): carry ["local/wheels"] for a translation run, and
# ["local/wheels", "local/cifar10"] for cifar10_conv_vit (the CIFAR-10 parquet copy, 54 MiB: the tree that travels
# must stay under 64 MiB, so nothing else is carried with it); timeout_s 590. MAX_TIME (DD:HH:MM:SS, default
# 00:00:07:30) caps training so that fit + tests + export end inside one 10-minute call.
#
# Comes back under $OUT (at most 8 files): env.txt (GPU, library versions), RUN.log (the whole output),
# results/RUN_h200.json + results/README.md (the table), results/RUN_h200.card.md (the exported model card). The
# exported model itself (tens of MB) stays on the machine: its numbers are in the JSON and the card.
set -euo pipefail

RUN="${1:?usage: bash experiments/gpu_run.sh RUN [args]; RUN is a config name in configs/, e.g. multi30k_en_de}"
shift
CONFIG="configs/${RUN}.yaml"
[[ -f "$CONFIG" ]] || { echo "error: no config $CONFIG; RUN must name a file in configs/" >&2; exit 2; }
OUT="${OUT:-/tmp/gpu_run_out}"
MAX_TIME="${MAX_TIME:-00:00:07:30}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT/results"

# The image has torch, transformers, lightning, timm, sacrebleu, pandas, pyarrow, ... but not datasets,
# jsonargparse (LightningCLI) and their few missing dependencies: local/wheels holds exactly those (cp312, no deps).
ls local/wheels/*.whl >/dev/null 2>&1 || { echo "error: local/wheels/*.whl missing: carry local/wheels" >&2; exit 2; }
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site local/wheels/*.whl
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

{
  nvidia-smi -L || true
  "$PYTHON" - <<'PY'
import importlib.metadata as m, platform
names = ["torch", "transformers", "lightning", "datasets", "jsonargparse", "pyarrow", "pandas", "fsspec",
         "huggingface_hub", "tokenizers", "timm", "sacrebleu", "torchmetrics"]
print("python", platform.python_version())
for name in names:
    try:
        print(name, m.version(name))
    except m.PackageNotFoundError:
        print(name, "MISSING")
import datasets, jsonargparse, torch  # fail here, clearly, if a carried wheel does not fit the image
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")
PY
} 2>&1 | tee "$OUT/env.txt"

EXTRA=()
if [[ "$RUN" == cifar10* ]]; then
  [[ -f local/cifar10/test-00000-of-00001.parquet ]] || {
    echo "error: local/cifar10/*.parquet missing: copy ../shared/data/cifar10-jpeg/*.parquet there and carry it" >&2
    exit 2
  }
  EXTRA+=('--data.init_args.data_files={"train": "local/cifar10/train-*.parquet", "test": "local/cifar10/test-00000-of-00001.parquet"}')
fi

set +e
"$PYTHON" experiments/reproduce.py "$CONFIG" --name "${RUN}_h200" --results-dir "$OUT/results" \
  --export-dir "/tmp/models/$RUN" "--trainer.max_time=$MAX_TIME" "${EXTRA[@]}" "$@" 2>&1 | tee "$OUT/$RUN.log"
status=${PIPESTATUS[0]}
set -e
[[ -f "/tmp/models/$RUN/README.md" ]] && cp "/tmp/models/$RUN/README.md" "$OUT/results/${RUN}_h200.card.md"
exit "$status"
