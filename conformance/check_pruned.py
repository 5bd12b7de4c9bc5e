#!/usr/bin/env python3
"""Loads every pruned checkpoint under DIR with unmodified transformers (AutoModelForCausalLM.from_pretrained) and
compares its logits with the Java runtime's (DIR/NAME-java/model.safetensors, written by `bench/run prunedExport`).

python3 conformance/check_pruned.py DIR    -> one line per model; exit 1 if any model fails to load or disagrees.
"""
import json, os, sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

root = sys.argv[1]
FIXTURES = "src/test/resources/conformance"


def load_f32(path):
    """The model in float32. .float() after loading: MXFP4 experts (gpt-oss) are dequantised to bf16 parameters on a
    machine without the MXFP4 kernels, whatever dtype is asked for, and would otherwise compute in bf16 (5.9e-3 off)."""
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager").float().eval()


def emulate_mask(name):
    """The full fixture model routing only to the mask's experts, where plain weights can express it: routers with a
    bias term (gpt-oss router bias, DeepSeek-V3 e_score_correction_bias) get zero rows and a -1e9 bias for dropped
    experts, so they are never chosen and (sigmoid scores / softmax over the chosen) the kept experts' weights are
    unchanged. Softmax-over-all routers without a bias cannot be masked this way; those return None.
    The full model is DIR/full/NAME when present (variants prunedExport writes, e.g. deepseek_v3_posbias), else the
    fixture."""
    src = os.path.join(root, "full", name)
    if not os.path.isdir(src):
        src = os.path.join(FIXTURES, name)
    mask_file = os.path.join(root, name + ".mask.json")
    if not (os.path.isdir(src) and os.path.exists(mask_file)):
        return None
    mask = json.load(open(mask_file))
    full = load_f32(src)
    done = False
    with torch.no_grad():
        for layer_s, kept in mask["layers"].items():
            layer = full.model.layers[int(layer_s)]
            mlp = getattr(layer, "mlp", None) or getattr(layer, "block_sparse_moe", None)
            router = getattr(mlp, "gate", None) or getattr(mlp, "router", None)
            bias = getattr(router, "e_score_correction_bias", None)
            if bias is None:
                bias = getattr(router, "bias", None)
            if bias is None:
                return None
            drop = [e for e in range(router.weight.shape[0]) if e not in kept]
            router.weight[drop] = 0
            bias[drop] = -1e9
            done = True
    return full if done else None

tol = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-3
failed = 0
for name in sorted(os.listdir(root)):
    d = os.path.join(root, name)
    if not os.path.isdir(d) or name.endswith("-java") or not os.path.exists(os.path.join(d, "config.json")):
        continue
    try:
        model = load_f32(d)
        n_exp = [getattr(model.config, k, None) for k in ("num_local_experts", "num_experts", "n_routed_experts")]
        jf = os.path.join(root, name + "-java", "model.safetensors")
        if os.path.exists(jf):
            ref = load_file(jf)
            with torch.no_grad():
                logits = model(ref["ids"].unsqueeze(0), use_cache=False).logits[0].float()
            rel = float((logits - ref["pruned.logits"]).norm() / ref["pruned.logits"].norm())
            rel_mask = float((logits - ref["masked.logits"]).norm() / ref["masked.logits"].norm())
            ok = rel <= tol and rel_mask <= tol
            extra = ""
            full = emulate_mask(name)   # transformers' own pruned == masked identity, where a bias can express it
            if full is not None:
                with torch.no_grad():
                    emu = full(ref["ids"].unsqueeze(0), use_cache=False).logits[0].float()
                rel_emu = float((logits - emu).norm() / emu.norm())
                ok = ok and rel_emu <= tol
                extra = f", vs transformers full model with the mask emulated {rel_emu:.2e}"
            failed += not ok
            print(f"{name:18s} {'OK ' if ok else 'BAD'} loads ({type(model).__name__}, experts {n_exp}); "
                  f"vs Java pruned {rel:.2e}, vs Java masked full model {rel_mask:.2e}{extra}", flush=True)
        else:
            ids = (torch.arange(3, 27).unsqueeze(0) * 7) % model.config.vocab_size
            with torch.no_grad():
                out = model(ids, use_cache=False).logits[0].float()
            ok = bool(torch.isfinite(out).all())
            note = "runs, finite logits (the Java runtime does not run this family yet)"
            full = emulate_mask(name)
            if full is not None:
                with torch.no_grad():
                    ref = full(ids, use_cache=False).logits[0].float()
                rel = float((out - ref).norm() / ref.norm())
                ok = ok and rel <= tol
                note = f"vs transformers full model with the mask emulated {rel:.2e} (Java runtime: family not yet)"
            failed += not ok
            print(f"{name:18s} {'OK ' if ok else 'BAD'} loads ({type(model).__name__}, experts {n_exp}); {note}", flush=True)
    except Exception as e:  # report and go on
        failed += 1
        print(f"{name:18s} BAD {type(e).__name__}: {str(e)[:300]}", flush=True)
for extra in sys.argv[3:]:   # unpruned checkpoints to try too (does transformers load its own output?)
    try:
        AutoModelForCausalLM.from_pretrained(extra, dtype=torch.float32)
        print(f"{extra}: loads")
    except Exception as e:
        print(f"{extra}: does not load either: {type(e).__name__}: {str(e)[:160]}")
print("failed:", failed)
sys.exit(1 if failed else 0)
