#!/usr/bin/env python3
"""Reference oracle: builds tiny random-weight MoE checkpoints of every supported family with
Hugging Face `transformers`, saves them with `save_pretrained`, and writes reference logits,
router choices and greedy continuations computed by `transformers` itself in float32.

Run on the GPU machine (transformers 5.17, torch):  python3 conformance/generate_fixtures.py OUTDIR
Each family lands in OUTDIR/<name>/ as a normal Hugging Face model directory plus
  reference.safetensors  (F32 logits, I64 ids, router choices per MoE layer)
  reference.json         (what the tensors mean, prompts, versions, margins)
Failures of one family are logged and do not stop the others.
"""
import json, math, os, sys, traceback, zlib

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM

OUT = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
VOCAB = 256
COMMON = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6,
              tie_word_embeddings=False, pad_token_id=0, bos_token_id=1, eos_token_id=2)

# name -> (model_type, config overrides, save dtype, shard size)
FAMILIES = {
    "qwen3_moe": ("qwen3_moe", dict(head_dim=16, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
                  intermediate_size=96, norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[1],
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0}), torch.bfloat16, "150KB"),
    "qwen3_moe_f32": ("qwen3_moe", dict(head_dim=16, num_experts=8, num_experts_per_tok=3, moe_intermediate_size=32,
                      intermediate_size=96, norm_topk_prob=False, decoder_sparse_step=1, mlp_only_layers=[],
                      tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
                      torch.float32, None),
    "qwen2_moe": ("qwen2_moe", dict(num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
                  shared_expert_intermediate_size=48, intermediate_size=96, norm_topk_prob=False,
                  decoder_sparse_step=1, mlp_only_layers=[], qkv_bias=True), torch.bfloat16, None),
    "olmoe": ("olmoe", dict(num_experts=8, num_experts_per_tok=2, intermediate_size=32, norm_topk_prob=False,
              clip_qkv=None), torch.bfloat16, None),
    "mixtral": ("mixtral", dict(num_local_experts=8, num_experts_per_tok=2, intermediate_size=32,
                sliding_window=None, rope_theta=1000000.0), torch.float16, None),
    "deepseek_v2": ("deepseek_v2", dict(n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=2,
                    moe_intermediate_size=32, intermediate_size=96, first_k_dense_replace=1, kv_lora_rank=32,
                    q_lora_rank=None, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                    topk_method="group_limited_greedy", n_group=4, topk_group=2, routed_scaling_factor=16.0,
                    norm_topk_prob=False, num_key_value_heads=4), torch.bfloat16, None),
    "deepseek_v3": ("deepseek_v3", dict(n_routed_experts=16, n_shared_experts=1, num_experts_per_tok=4,
                    moe_intermediate_size=32, intermediate_size=96, first_k_dense_replace=1, kv_lora_rank=32,
                    q_lora_rank=48, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, n_group=4,
                    topk_group=2, routed_scaling_factor=2.5, norm_topk_prob=True, rope_interleave=True,
                    num_key_value_heads=4), torch.bfloat16, "200KB"),
    "gpt_oss": ("gpt_oss", dict(num_local_experts=8, num_experts_per_tok=2, intermediate_size=32, head_dim=16,
                sliding_window=8, layer_types=["sliding_attention", "full_attention", "sliding_attention"]),
                torch.bfloat16, None),
    "granitemoe": ("granitemoe", dict(num_local_experts=8, num_experts_per_tok=2, intermediate_size=32,
                   embedding_multiplier=12.0, logits_scaling=8.0, residual_multiplier=0.22,
                   attention_multiplier=0.0625), torch.bfloat16, None),
}

g = torch.Generator().manual_seed(1234)
PROMPTS = [torch.randint(3, VOCAB, (9,), generator=g).tolist(), torch.randint(3, VOCAB, (17,), generator=g).tolist()]
GREEDY_STEPS = 32


def log(*a):
    print(*a, flush=True)


def randomize(model, seed):
    """Weights with O(1) activations and decisive routing, so expert choices have clear margins."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if "inv_freq" in name or not p.is_floating_point():
                continue
            shape = p.shape
            if name.endswith("e_score_correction_bias"):
                v = torch.randn(shape, generator=gen) * 0.2
            elif p.dim() == 1 and ("norm" in name or "layernorm" in name):
                v = 1.0 + 0.2 * torch.randn(shape, generator=gen)
            elif p.dim() == 1:
                v = 0.1 * torch.randn(shape, generator=gen)  # biases, attention sinks
            else:
                fan_in = shape[-1]
                std = 1.0 / math.sqrt(fan_in)
                if any(k in name for k in ("gate.weight", "router", "gate.w")) and "gate_proj" not in name \
                        and "gate_up" not in name:
                    std *= 3.0
                v = torch.randn(shape, generator=gen) * std
            p.copy_(v.to(p.dtype))


def load_f32(path):
    kwargs = dict(dtype=torch.float32, attn_implementation="eager")
    try:
        return AutoModelForCausalLM.from_pretrained(path, experts_implementation="eager", **kwargs).eval()
    except Exception as e:  # older/newer builds without that switch
        log("  experts_implementation=eager not accepted:", repr(e)[:200])
        return AutoModelForCausalLM.from_pretrained(path, **kwargs).eval()


class RouterTap:
    """Records, per MoE layer, the router input (to recompute raw logits) and the expert choices."""

    def __init__(self, model):
        self.records = {}
        self.handles = []
        layers = model.model.layers
        for i, layer in enumerate(layers):
            moe = None
            for attr in ("mlp", "block_sparse_moe"):
                m = getattr(layer, attr, None)
                if m is not None and any(hasattr(m, a) for a in ("experts", "router", "gate")) \
                        and (hasattr(m, "experts") or hasattr(m, "router")):
                    moe = m
            if moe is None:
                continue
            router = getattr(moe, "gate", None) or getattr(moe, "router", None)
            experts = getattr(moe, "experts", None)
            rec = {"router_module": type(router).__name__ if router is not None else None}
            self.records[i] = rec
            if router is not None:
                self.handles.append(router.register_forward_hook(self._router_hook(i)))
            if experts is not None:
                self.handles.append(experts.register_forward_pre_hook(self._experts_hook(i), with_kwargs=True))

    def _router_hook(self, i):
        def hook(mod, args, out):
            x = args[0]
            w = None
            for pname, p in mod.named_parameters():
                if pname.endswith("weight") and p.dim() == 2:
                    w = p
                    break
            rec = self.records[i]
            if w is not None:
                rec["router_logits"] = F.linear(x.reshape(-1, x.shape[-1]).float(), w.float()).detach().clone()
            outs = out if isinstance(out, (tuple, list)) else (out,)
            rec["router_outputs"] = [o.detach().clone() for o in outs if torch.is_tensor(o)]
        return hook

    def _experts_hook(self, i):
        def hook(mod, args, kwargs):
            ts = [a for a in list(args) + list(kwargs.values()) if torch.is_tensor(a)]
            self.records[i]["experts_args"] = [t.detach().clone() for t in ts]
        return hook

    def choices(self, T, k):
        """(layer -> dict of ids [T,k] int64, weights [T,k] f32, logits [T,E] f32)."""
        result = {}
        for i, rec in self.records.items():
            cand = rec.get("experts_args", []) + rec.get("router_outputs", [])
            ids = next((t.reshape(T, -1) for t in cand if not t.is_floating_point() and t.numel() == T * k), None)
            r = {}
            if "router_logits" in rec:
                r["router_logits"] = rec["router_logits"].reshape(T, -1)
            if ids is not None:
                r["topk_ids"] = ids.long()
                w = next((t.reshape(T, -1) for t in cand if t.is_floating_point() and t.numel() == T * k), None)
                if w is None:  # dense [T, E] routing weights
                    E = r.get("router_logits", torch.empty(T, 0)).shape[-1]
                    dense = next((t.reshape(T, -1) for t in cand if t.is_floating_point() and E and t.numel() == T * E
                                  and t.shape[-1] != 64), None)
                    if dense is not None:
                        w = torch.gather(dense, 1, ids.long())
                if w is not None:
                    r["topk_weights"] = w.float()
            result[i] = r
        return result

    def clear(self):
        for rec in self.records.values():
            for key in ("router_logits", "router_outputs", "experts_args"):
                rec.pop(key, None)


def topk_of(cfg):
    return getattr(cfg, "num_experts_per_tok", None) or 2


def reference(name, path, meta, model=None):
    """Reference outputs of the checkpoint at path (loaded in float32 unless a loaded model is given)."""
    model = model if model is not None else load_f32(path)
    cfg = model.config
    k = topk_of(cfg)
    tap = RouterTap(model)
    tensors, info = {}, {"prompts": PROMPTS, "moe_layers": sorted(tap.records), "top_k": k}
    with torch.no_grad():
        for pi, prompt in enumerate(PROMPTS):
            ids = torch.tensor([prompt])
            tap.clear()
            out = model(ids, use_cache=False)
            logits = out.logits[0].float()
            tensors[f"prompt{pi}.ids"] = ids[0].long()
            tensors[f"prompt{pi}.logits"] = logits.contiguous()
            for layer, r in tap.choices(len(prompt), k).items():
                for key, t in r.items():
                    tensors[f"prompt{pi}.layer{layer}.{key}"] = t.contiguous()
        # greedy continuation without cache: the plain definition, with the top-1/top-2 margin at each step
        seq = list(PROMPTS[0])
        margins = []
        for _ in range(GREEDY_STEPS):
            tap.clear()
            logits = model(torch.tensor([seq]), use_cache=False).logits[0, -1].float()
            top2 = torch.topk(logits, 2).values
            margins.append(float(top2[0] - top2[1]))
            seq.append(int(torch.argmax(logits)))
        tensors["greedy.ids"] = torch.tensor(seq[len(PROMPTS[0]):], dtype=torch.long)
        info["greedy_min_margin"] = min(margins)
        # KV-cache decode in transformers too: prefill prompt1, then 8 cached steps, logits of each step
        past = None
        seq = list(PROMPTS[1])
        out = model(torch.tensor([seq]), use_cache=True)
        past = out.past_key_values
        step_logits = []
        nxt = int(torch.argmax(out.logits[0, -1]))
        for _ in range(8):
            out = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            step_logits.append(out.logits[0, -1].float())
            seq.append(nxt)
            nxt = int(torch.argmax(out.logits[0, -1]))
        tensors["decode.ids"] = torch.tensor(seq[len(PROMPTS[1]):], dtype=torch.long)
        tensors["decode.logits"] = torch.stack(step_logits).contiguous()
    info.update(meta)
    info["router_modules"] = {str(i): r["router_module"] for i, r in tap.records.items()}
    info["tensors"] = {n: list(t.shape) for n, t in sorted(tensors.items())}
    info["transformers_version"] = transformers.__version__
    info["torch_version"] = torch.__version__
    save_file(tensors, os.path.join(path, "reference.safetensors"))
    with open(os.path.join(path, "reference.json"), "w") as f:
        json.dump(info, f, indent=1)
    log(f"  reference: {len(tensors)} tensors, moe layers {info['moe_layers']}, greedy margin {info['greedy_min_margin']:.4f}")


def build(name, model_type, overrides, dtype, shard):
    kw = dict(COMMON)
    kw.update(overrides)
    cfg = AutoConfig.for_model(model_type, **kw)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    n = sum(p.numel() for p in model.parameters())
    assert n < 3_000_000, f"{name}: {n} parameters, config overrides were ignored"
    randomize(model, seed=zlib.crc32(name.encode()) % 10_000)
    path = os.path.join(OUT, name)
    model.to(dtype)
    save_kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(path, **save_kwargs)
    log(f"{name}: {type(model).__name__}, {n} params, saved {sorted(os.listdir(path))}")
    reference(name, path, {"family": name, "model_type": model_type, "parameters": n, "saved_dtype": str(dtype)})


def fp8_fixtures():
    """FP8 E4M3 weights with 128x128 block scales (DeepSeek-V3 layout) and F8_E5M2, with F32 dequantised values."""
    path = os.path.join(OUT, "quantized")
    os.makedirs(path, exist_ok=True)
    gen = torch.Generator().manual_seed(7)
    w = torch.randn(200, 300, generator=gen) * 0.5
    q = w.to(torch.float8_e4m3fn)
    scale_inv = torch.rand(2, 3, generator=gen) * 0.01 + 0.001
    deq = q.float() * scale_inv.repeat_interleave(128, 0)[:200].repeat_interleave(128, 1)[:, :300]
    e5 = (torch.randn(17, 5, generator=gen) * 3).to(torch.float8_e5m2)
    tensors = {"model.layers.0.mlp.experts.0.up_proj.weight": q,
               "model.layers.0.mlp.experts.0.up_proj.weight_scale_inv": scale_inv,
               "e5m2": e5, "e4m3_plain": q[:3, :7].contiguous()}
    save_file(tensors, os.path.join(path, "fp8.safetensors"), metadata={"format": "pt"})
    save_file({"up_proj.dequantized": deq, "e5m2.f32": e5.float(), "e4m3_plain.f32": q[:3, :7].float()},
              os.path.join(path, "fp8.reference.safetensors"))
    log("fp8 fixtures written")


def mxfp4_fixtures():
    """gpt-oss MXFP4 `*_blocks` / `*_scales` pairs, dequantised by transformers' own converter."""
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors
    path = os.path.join(OUT, "quantized")
    os.makedirs(path, exist_ok=True)
    gen = torch.Generator().manual_seed(11)
    E, rows, G = 3, 10, 2  # [experts, output rows, 32-element groups, 16 bytes]
    blocks = torch.randint(0, 256, (E, rows, G, 16), generator=gen, dtype=torch.int64).to(torch.uint8)
    scales = torch.randint(120, 134, (E, rows, G), generator=gen, dtype=torch.int64).to(torch.uint8)
    deq = convert_moe_packed_tensors(blocks.clone(), scales.clone(), dtype=torch.float32).float().cpu()
    info = {"converter_output_shape": list(deq.shape)}
    if list(deq.shape) != [E, rows, G * 32]:  # transformers transposes to [E, in, out]; keep the stored layout
        deq = deq.transpose(1, 2).contiguous()
    info["reference_shape"] = list(deq.shape)
    save_file({"model.layers.0.mlp.experts.gate_up_proj_blocks": blocks,
               "model.layers.0.mlp.experts.gate_up_proj_scales": scales},
              os.path.join(path, "mxfp4.safetensors"), metadata={"format": "pt"})
    save_file({"gate_up_proj.dequantized": deq}, os.path.join(path, "mxfp4.reference.safetensors"))
    with open(os.path.join(path, "mxfp4.json"), "w") as f:
        json.dump(info, f)
    log("mxfp4 fixtures written", info)


def fp8_checkpoint():
    """A DeepSeek-V3 checkpoint quantised to FP8 blocks by transformers itself (needs the GPU)."""
    from transformers import FineGrainedFP8Config
    src = os.path.join(OUT, "deepseek_v3")
    model = AutoModelForCausalLM.from_pretrained(src, quantization_config=FineGrainedFP8Config(), device_map="cuda")
    dst = os.path.join(OUT, "deepseek_v3_fp8")
    model.save_pretrained(dst)
    for f in ("reference.safetensors", "reference.json"):
        if os.path.exists(os.path.join(dst, f)):
            os.remove(os.path.join(dst, f))
    log("deepseek_v3_fp8 saved", sorted(os.listdir(dst)))


FP4_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def mxfp4_quantize(w):
    """w [E, out, in] (in a multiple of 32) -> (blocks U8 [E, out, in/32, 16], scales U8 [E, out, in/32]) as gpt-oss
    stores experts: per 32 inputs of an output row one E8M0 scale 2^(s-127) chosen so the largest magnitude fits in
    FP4's 6, and FP4 E2M1 values (nearest), two per byte, the even element in the low nibble."""
    E, rows, cols = w.shape
    g = w.float().reshape(E, rows, cols // 32, 32)
    amax = g.abs().amax(dim=-1).clamp(min=1e-30)
    exp = torch.ceil(torch.log2(amax / 6.0)).clamp(-127, 127)
    q = g / torch.pow(2.0, exp).unsqueeze(-1)
    mags = torch.tensor(FP4_VALUES)
    idx = (q.abs().unsqueeze(-1) - mags).abs().argmin(dim=-1)
    nib = idx | ((q < 0).long() << 3)
    nib = nib.reshape(E, rows, cols // 32, 16, 2)
    blocks = (nib[..., 0] | (nib[..., 1] << 4)).to(torch.uint8)
    scales = (exp + 127).to(torch.uint8)
    return blocks.contiguous(), scales.contiguous()


def mxfp4_dequantize(blocks, scales):
    """The inverse layout of mxfp4_quantize: [E, out, in] float32."""
    lut = torch.tensor(FP4_VALUES + [-v for v in FP4_VALUES])
    b = blocks.long()
    vals = torch.stack([lut[b & 15], lut[b >> 4]], dim=-1).reshape(*blocks.shape[:-1], 32)
    vals = vals * torch.pow(2.0, scales.float() - 127).unsqueeze(-1)
    return vals.reshape(blocks.shape[0], blocks.shape[1], -1)


def gpt_oss_mxfp4():
    """gpt-oss with MXFP4 experts as the released checkpoints store them: the gpt_oss fixture's BF16 model with its
    fused expert tensors quantised (mxfp4_quantize) into *_blocks / *_scales, quantization_config mxfp4. The reference
    is transformers loading that checkpoint itself (Mxfp4Config(dequantize=True)), checked against our dequantisation."""
    import shutil
    from safetensors.torch import load_file
    from transformers import Mxfp4Config
    src, dst = os.path.join(OUT, "gpt_oss"), os.path.join(OUT, "gpt_oss_mxfp4")
    os.makedirs(dst, exist_ok=True)
    state = load_file(os.path.join(src, "model.safetensors"))
    out, ours = {}, {}
    for name, t in state.items():
        if name.endswith("mlp.experts.gate_up_proj") or name.endswith("mlp.experts.down_proj"):
            blocks, scales = mxfp4_quantize(t.float().transpose(1, 2))  # stored [E, in, out] -> [E, out, in]
            out[name + "_blocks"], out[name + "_scales"] = blocks, scales
            ours[name] = mxfp4_dequantize(blocks, scales).transpose(1, 2)  # back to [E, in, out]
        else:
            out[name] = t
    save_file(out, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg["quantization_config"] = {"quant_method": "mxfp4", "modules_to_not_convert": [
        "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    shutil.copy(os.path.join(src, "generation_config.json"), dst)
    model = AutoModelForCausalLM.from_pretrained(dst, quantization_config=Mxfp4Config(dequantize=True),
                                                 dtype=torch.float32, attn_implementation="eager").float().eval()
    worst = 0.0
    for name, want in ours.items():
        got = dict(model.named_parameters())[name].detach().float().cpu()
        assert list(got.shape) == list(want.shape), (name, got.shape, want.shape)
        worst = max(worst, float((got - want).abs().max()))
    log(f"gpt_oss_mxfp4: transformers' dequantised experts vs ours: max |diff| {worst}")
    assert worst == 0.0, "transformers reads the MXFP4 experts differently"
    reference("gpt_oss_mxfp4", dst, {"family": "gpt_oss_mxfp4", "model_type": "gpt_oss",
                                     "saved_dtype": "mxfp4 experts, bf16 rest"}, model)


def main():
    os.makedirs(OUT, exist_ok=True)
    failures = {}
    only = set(sys.argv[2:])
    for name, (mt, ov, dt, shard) in FAMILIES.items():
        if only and name not in only:
            continue
        try:
            build(name, mt, ov, dt, shard)
        except Exception:
            failures[name] = traceback.format_exc()
            log(f"{name}: FAILED\n{failures[name]}")
    for fn in (fp8_fixtures, mxfp4_fixtures, gpt_oss_mxfp4, fp8_checkpoint):
        try:
            fn()
        except Exception:
            failures[fn.__name__] = traceback.format_exc()
            log(f"{fn.__name__}: FAILED\n{failures[fn.__name__]}")
    with open(os.path.join(OUT, "generation.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__,
                   "failures": failures}, f, indent=1)
    log("done; failures:", list(failures))


if __name__ == "__main__":
    main()
