#!/usr/bin/env python3
"""transformers on the GPU, the baseline of the GPU backend's speed goals (issue 22), same model and batch.

python3 bench/device/transformers_gpu_bench.py MODEL_DIR [--batch 8] [--seq 2048] [--decode-batch 32[,1...]] [--decode 64] [--runs 3]
BF16 weights on cuda:0. Random tokens (seed 7). Prefill: one forward pass over a batch of `--batch` sequences of
`--seq` tokens with labels (the loss of perplexity / the pass of calibration), tokens/s; decode: greedy steps of a
batch of `--decode-batch` sequences (several: one line each) after a 128-token prompt, with the KV cache, tokens/s over the batch. One warm-up,
then the median of `--runs`, timed with torch.cuda.synchronize around each. Also the cuBLAS BF16 peak of an
8192^3 product in the same process (for "experts at >= 60 % of the cuBLAS BF16 peak").
"""
import argparse, statistics, time

import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--seq", type=int, default=2048)
ap.add_argument("--decode-batch", default="32", help="decode batch sizes, comma-separated")
ap.add_argument("--decode", type=int, default=64)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--layers", type=int, default=0, help="load only the first N layers (0: all)")
a = ap.parse_args()
dev = torch.device("cuda:0")
kw = {}
if a.layers:
    from transformers import AutoConfig
    cfg = AutoConfig.from_pretrained(a.model)
    cfg.num_hidden_layers = a.layers
    kw["config"] = cfg
model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.bfloat16, **kw).to(dev).eval()
vocab = model.config.vocab_size
g = torch.Generator().manual_seed(7)


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def peak():
    x = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    y = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    for _ in range(3):
        x @ y
    ts = [timed(lambda: x @ y) for _ in range(10)]
    return 2 * 8192 ** 3 / statistics.median(ts) / 1e12


ids = torch.randint(0, vocab, (a.batch, a.seq), generator=g).to(dev)


def prefill():
    with torch.inference_mode():
        model(ids, labels=ids, use_cache=False)


def decode(prompt):
    with torch.inference_mode():
        out = model(prompt, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1:].argmax(-1)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(a.decode):
            out = model(nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1:].argmax(-1)
        torch.cuda.synchronize()
        return time.perf_counter() - t0


print(f"device {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
print(f"cuBLAS BF16 8192^3: {peak():.0f} TFLOP/s", flush=True)
prefill()
pre = [a.batch * a.seq / timed(prefill) for _ in range(a.runs)]
print(f"transformers prefill {a.batch}x{a.seq}: {statistics.median(pre):.0f} tok/s  runs {[round(p) for p in pre]}", flush=True)
for b in [int(x) for x in a.decode_batch.split(",")]:
    prompt = torch.randint(0, vocab, (b, 128), generator=g).to(dev)
    decode(prompt)
    dec = [b * a.decode / decode(prompt) for _ in range(a.runs)]
    print(f"transformers decode batch {b} ({a.decode} steps): {statistics.median(dec):.0f} tok/s  "
          f"runs {[round(d) for d in dec]}", flush=True)
print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB", flush=True)
