"""Benchmark: our ConvViT against timm's `vit_small_r26_s32_224` (ResNet-26 stem hybrid) and `vit_small_patch16_224`.

All models are built with random weights (`pretrained=False`, nothing downloaded). For each: parameters, forward
GFLOPs per image (torch.utils.flop_counter.FlopCounterMode; one multiply-add = 2 FLOPs), training img/s (forward,
cross-entropy, backward, AdamW step) and inference img/s, with repetitions of all models interleaved in one
process and medians reported; then the same for our CIFAR-10 preset at 32 px (with a timm ViT-Tiny/4 at 32 px
for scale). bf16 autocast and fused AdamW on a GPU, fp32 on CPU.

Usage (see bench/README.md):
    python bench/conv_vit.py --train-batch 8 --infer-batch 16 --reps 3     # CPU, a few minutes
    python bench/conv_vit.py --compile                                      # GPU: B256 at 224 px
"""

import argparse
import datetime
import os
import platform

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import timm  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from timing import device_name, interleaved, markdown_table, results_path, sync, write_results  # noqa: E402

from hf_seq2seq_vit.models.conv_vit import ConvViTConfig, ConvViTForImageClassification  # noqa: E402

PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12}




def logits_of(model, pixels):
    out = model(pixels)
    return out.logits if hasattr(out, "logits") else out


def forward_gflops(model, size: int, device) -> float:
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        logits_of(model, torch.zeros(1, 3, size, size, device=device))
    return counter.get_total_flops() / 1e9


def make_train_step(model, device, dtype, compile_model: bool):
    try:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    except (RuntimeError, TypeError):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    forward = torch.compile(model) if compile_model else model

    def step(pixels, labels):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = torch.nn.functional.cross_entropy(logits_of(forward, pixels).float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def bench_group(models: dict, size: int, args, device, dtype) -> list[dict]:
    rows = {name: {"model": name, "image_size": size, "params_m": sum(p.numel() for p in m.parameters()) / 1e6,
                   "gflops_per_image": forward_gflops(m, size, device)} for name, m in models.items()}
    g = torch.Generator().manual_seed(0)
    num_classes = {name: logits_of(m.eval(), torch.zeros(1, 3, size, size, device=device)).shape[-1]
                   for name, m in models.items()}
    train_pixels = torch.randn(args.train_batch, 3, size, size, generator=g).to(device)
    infer_pixels = torch.randn(args.infer_batch, 3, size, size, generator=g).to(device)
    steps = {}
    for name, model in models.items():
        model.train()
        labels = torch.randint(0, num_classes[name], (args.train_batch,), generator=g).to(device)
        step = make_train_step(model, device, dtype, args.compile)
        steps[name] = lambda step=step, labels=labels: step(train_pixels, labels)
    for name, t in interleaved(steps, args.reps, device).items():
        rows[name].update(train_img_per_s=args.train_batch / t["median_s"], train_all_s=t["all_s"])
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            steps[name]()
            sync(device)
            rows[name]["train_peak_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
            peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in torch.cuda.get_device_name()), None)
            if peak:  # training ≈ 3 × forward FLOPs (backward = 2 × forward)
                rows[name]["mfu"] = 3 * rows[name]["gflops_per_image"] * 1e9 * rows[name]["train_img_per_s"] / peak
    for model in models.values():
        model.eval()
        model.zero_grad(set_to_none=True)

    def infer(model):
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits_of(model, infer_pixels)

    for name, t in interleaved({n: (lambda m=m: infer(m)) for n, m in models.items()}, args.reps, device).items():
        rows[name].update(infer_img_per_s=args.infer_batch / t["median_s"], infer_all_s=t["all_s"])
    return list(rows.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-batch", type=int, default=256)
    parser.add_argument("--infer-batch", type=int, default=256)
    parser.add_argument("--cifar-batch", type=int, default=None, help="batch at 32 px (default: 4 × train batch)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile every model's training forward")
    parser.add_argument("--skip-224", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    result = {"benchmark": "conv_vit", "args": vars(args), "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "device": device.type,
              "device_name": device_name(device),
              "cpu_threads": torch.get_num_threads(), "torch": torch.__version__, "timm": timm.__version__,
              "transformers": transformers.__version__, "python": platform.python_version(), "dtype": str(dtype),
              "rows": []}
    torch.manual_seed(0)
    if not args.skip_224:
        models = {
            "ours_imagenet": ConvViTForImageClassification(ConvViTConfig.from_preset("imagenet")),
            "timm_vit_small_r26_s32_224": timm.create_model("vit_small_r26_s32_224", pretrained=False),
            "timm_vit_small_patch16_224": timm.create_model("vit_small_patch16_224", pretrained=False),
        }
        result["rows"] += bench_group({n: m.to(device) for n, m in models.items()}, 224, args, device, dtype)
        del models
    cifar = dict(args.__dict__)
    cifar.update(train_batch=args.cifar_batch or 4 * args.train_batch, infer_batch=args.cifar_batch or 4 * args.infer_batch)
    models = {
        "ours_cifar10": ConvViTForImageClassification(ConvViTConfig.from_preset("cifar10")),
        "timm_vit_tiny_patch4_32": timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32,
                                                     patch_size=4, num_classes=10),
    }
    result["rows"] += bench_group({n: m.to(device) for n, m in models.items()}, 32, argparse.Namespace(**cifar),
                                  device, dtype)
    for row in result["rows"]:
        row["train_batch"] = args.train_batch if row["image_size"] == 224 else cifar["train_batch"]
        row["infer_batch"] = args.infer_batch if row["image_size"] == 224 else cifar["infer_batch"]
    hybrid = next((r for r in result["rows"] if r["model"] == "timm_vit_small_r26_s32_224"), None)
    ours = next((r for r in result["rows"] if r["model"] == "ours_imagenet"), None)
    if hybrid and ours:
        result["train_ratio_ours_over_timm_hybrid"] = ours["train_img_per_s"] / hybrid["train_img_per_s"]
        result["infer_ratio_ours_over_timm_hybrid"] = ours["infer_img_per_s"] / hybrid["infer_img_per_s"]

    write_results(results_path(args.out, f"conv_vit-{device.type}"), result, markdown)


def markdown(result: dict) -> str:
    lines = [f"# ConvViT benchmark ({result['date']})", "",
             f"device: {result['device']} ({result['device_name']}, {result['cpu_threads']} CPU threads), dtype "
             f"{result['dtype']}, torch {result['torch']}, timm {result['timm']}, transformers "
             f"{result['transformers']}; reps {result['args']['reps']} (medians, interleaved)", ""]
    lines += markdown_table(
        ["model", "px", "params (M)", "GFLOPs/img", "train batch", "train img/s", "infer batch", "infer img/s", "MFU"],
        ([r["model"], r["image_size"], f"{r['params_m']:.1f}", f"{r['gflops_per_image']:.2f}", r["train_batch"],
          f"{r['train_img_per_s']:.2f}", r["infer_batch"], f"{r['infer_img_per_s']:.2f}",
          f"{r['mfu']:.1%}" if "mfu" in r else "n/a"] for r in result["rows"]))
    if "train_ratio_ours_over_timm_hybrid" in result:
        lines += ["", f"ours / timm hybrid (vit_small_r26_s32_224): training **"
                  f"{result['train_ratio_ours_over_timm_hybrid']:.2f}×**, inference "
                  f"**{result['infer_ratio_ours_over_timm_hybrid']:.2f}×**"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
