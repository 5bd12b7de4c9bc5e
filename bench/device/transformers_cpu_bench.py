#!/usr/bin/env python3
"""transformers on the CPU, for comparison with `bench/run runtime` on the same model and thread count.

python3 bench/device/transformers_cpu_bench.py MODEL_DIR --threads N [--dtype bfloat16|float32] [--prompt 256] [--decode 32] [--runs 3]
Random-token prompt (seed 7), one warm-up, then the median of the runs: prefill tokens/s of one forward pass over
the prompt, and decode tokens/s of greedy steps with the KV cache (a plain loop, no generate() overhead).
"""
import argparse, statistics, time

import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--dtype", default="bfloat16")
ap.add_argument("--prompt", type=int, default=256)
ap.add_argument("--decode", type=int, default=32)
ap.add_argument("--runs", type=int, default=3)
a = ap.parse_args()
torch.set_num_threads(a.threads)
model = AutoModelForCausalLM.from_pretrained(a.model, dtype=getattr(torch, a.dtype)).eval()
g = torch.Generator().manual_seed(7)
prompt = torch.randint(0, model.config.vocab_size, (1, a.prompt), generator=g)


def once():
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = model(prompt, use_cache=True)
        t1 = time.perf_counter()
        past = out.past_key_values
        nxt = out.logits[:, -1:].argmax(-1)
        t2 = time.perf_counter()
        for _ in range(a.decode):
            out = model(nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1:].argmax(-1)
        t3 = time.perf_counter()
    return a.prompt / (t1 - t0), a.decode / (t3 - t2)


once()
res = [once() for _ in range(a.runs)]
pre = statistics.median(r[0] for r in res)
dec = statistics.median(r[1] for r in res)
print(f"transformers {a.dtype} threads {a.threads}: prefill ({a.prompt} tokens) {pre:.1f} tok/s, "
      f"decode ({a.decode} steps) {dec:.2f} tok/s  [runs: {[(round(p, 1), round(d, 2)) for p, d in res]}]", flush=True)
