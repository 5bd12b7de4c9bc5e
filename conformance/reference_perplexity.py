#!/usr/bin/env python3
"""Reference per-document negative log-likelihood of a causal LM on JSONL domain files, by transformers.

python3 conformance/reference_perplexity.py MODEL_DIR DATA_DIR OUT.json [MAX_TOKENS_PER_DOC]
Protocol (the Java `perplexity` command follows the same): each document's `text` is tokenised with
tokenizer.json without special tokens, cut to the first MAX_TOKENS_PER_DOC (default 512) tokens, and
every token after the first is predicted; weights in their stored dtype are computed in float32
(TF32 off). Per document: token count, summed NLL (nats) and next-token hits (argmax == next token).
"""
import gzip, json, os, sys, time

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

model_dir, data_dir, out_path = sys.argv[1:4]
max_tokens = int(sys.argv[4]) if len(sys.argv) > 4 else 512
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
device = "cuda" if torch.cuda.is_available() else "cpu"
tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").to(device).eval()

result = {"model": os.path.basename(model_dir.rstrip("/")), "max_tokens_per_doc": max_tokens, "domains": {}}
for fname in sorted(os.listdir(data_dir)):
    if not (fname.endswith(".jsonl") or fname.endswith(".jsonl.gz")):
        continue
    domain = fname.split(".")[0]
    opener = gzip.open if fname.endswith(".gz") else open
    docs = []
    t0 = time.time()
    with opener(os.path.join(data_dir, fname), "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f):
            if not line.strip():
                continue
            ids = tok.encode(json.loads(line)["text"], add_special_tokens=False).ids[:max_tokens]
            if len(ids) < 2:
                docs.append({"line": line_no, "tokens": len(ids), "nll": 0.0, "hits": 0, "first_ids": ids[:16]})
                continue
            x = torch.tensor([ids], device=device)
            with torch.no_grad():
                logits = model(x, use_cache=False).logits[0, :-1].double()
            target = x[0, 1:]
            nll = torch.nn.functional.cross_entropy(logits, target, reduction="sum").item()
            hits = int((logits.argmax(-1) == target).sum())
            docs.append({"line": line_no, "tokens": len(ids), "nll": nll, "hits": hits, "first_ids": ids[:16]})
    predicted = sum(max(d["tokens"] - 1, 0) for d in docs)
    nll = sum(d["nll"] for d in docs)
    hits = sum(d["hits"] for d in docs)
    result["domains"][domain] = {"documents": len(docs), "predicted_tokens": predicted, "loss": nll / predicted,
                                 "perplexity": float(torch.tensor(nll / predicted).exp()),
                                 "accuracy": hits / predicted, "docs": docs}
    print(f"{domain:10s} docs {len(docs):5d} tokens {predicted:8d} loss {nll / predicted:.4f} "
          f"acc {hits / predicted:.4f} ({time.time() - t0:.1f}s)", flush=True)
with open(out_path, "w") as f:
    json.dump(result, f)
