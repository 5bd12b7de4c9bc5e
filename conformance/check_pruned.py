#!/usr/bin/env python3
"""Loads every pruned checkpoint under DIR with unmodified transformers (AutoModelForCausalLM.from_pretrained) and
compares its logits with the Java runtime's (DIR/NAME-java/model.safetensors, written by `bench/run prunedExport`).

python3 conformance/check_pruned.py DIR    -> one line per model; exit 1 if any model fails to load or disagrees.
"""
import os, sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

root = sys.argv[1]
tol = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-3
failed = 0
for name in sorted(os.listdir(root)):
    d = os.path.join(root, name)
    if not os.path.isdir(d) or name.endswith("-java") or not os.path.exists(os.path.join(d, "config.json")):
        continue
    try:
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        n_exp = [getattr(model.config, k, None) for k in ("num_local_experts", "num_experts", "n_routed_experts")]
        jf = os.path.join(root, name + "-java", "model.safetensors")
        if os.path.exists(jf):
            ref = load_file(jf)
            with torch.no_grad():
                logits = model(ref["ids"].unsqueeze(0), use_cache=False).logits[0].float()
            rel = float((logits - ref["pruned.logits"]).norm() / ref["pruned.logits"].norm())
            rel_mask = float((logits - ref["masked.logits"]).norm() / ref["masked.logits"].norm())
            ok = rel <= tol and rel_mask <= tol
            failed += not ok
            print(f"{name:18s} {'OK ' if ok else 'BAD'} loads ({type(model).__name__}, experts {n_exp}); "
                  f"vs Java pruned {rel:.2e}, vs Java masked full model {rel_mask:.2e}", flush=True)
        else:
            with torch.no_grad():
                out = model(torch.arange(3, 27).unsqueeze(0) % model.config.vocab_size, use_cache=False).logits
            ok = bool(torch.isfinite(out).all())
            failed += not ok
            print(f"{name:18s} {'OK ' if ok else 'BAD'} loads ({type(model).__name__}, experts {n_exp}); "
                  f"runs, finite logits (the Java runtime does not run this family yet)", flush=True)
    except Exception as e:  # report and go on
        failed += 1
        print(f"{name:18s} BAD {type(e).__name__}: {str(e)[:300]}", flush=True)
print("failed:", failed)
sys.exit(1 if failed else 0)
