/**
 * The CPU inference runtime: computes what Hugging Face transformers computes (F32 arithmetic on weights kept
 * memory-mapped in their stored BF16/F16/F32 dtype) for the MoE families of {@link io.moeprune.model.Family}.
 *
 * <p>Structure: {@link io.moeprune.runtime.Model} runs batches of tokens through
 * {@link io.moeprune.runtime.DecoderLayer}s (RMSNorm → {@link io.moeprune.runtime.AttentionLayer} → RMSNorm →
 * {@link io.moeprune.runtime.FeedForward}) against an {@link io.moeprune.runtime.InferenceState} (KV cache,
 * position, expert mask, observer). A whole prompt is one batch (prefill); a decode step is a batch of one.
 * {@link io.moeprune.runtime.MoeBlock} routes with {@link io.moeprune.runtime.Router} and groups the batch's
 * tokens by expert so each chosen expert's weights are read once per batch. Calibration watches MoE blocks through
 * {@link io.moeprune.runtime.MoeObserver}; {@link io.moeprune.runtime.ExpertMask} routes as a pruned checkpoint
 * would.
 *
 * <p>Families: what differs is built by a {@link io.moeprune.runtime.family.FamilyRuntime} chosen in
 * {@link io.moeprune.runtime.family.Families}. DeepSeek-V2/V3 use
 * {@link io.moeprune.runtime.family.DeepSeekFamily} (MLA attention; routing with sigmoid, selection bias, groups
 * and scaling is generic in Router). Qwen3-MoE, Qwen2-MoE, OLMoE, Mixtral and GraniteMoE share
 * {@link io.moeprune.runtime.family.LlamaStyleFamily}; their differences are data in the ModelSpec (GraniteMoE's
 * fused expert tensors are sliced into per-expert views, its multipliers are applied by Model and DecoderLayer).
 * gpt-oss runs there too: its fused, interleaved experts with biases and the clamped SwiGLU are
 * {@link io.moeprune.runtime.GptOssExperts}, over BF16 input-major tensors or the released checkpoints' MXFP4 blocks
 * (computed from the 4-bit rows, never widened in memory); its attention sinks join the softmax in
 * {@link io.moeprune.runtime.CausalAttention}.
 * FP8 E4M3 weights with {@code weight_scale_inv} are read through the kernels' block-scaled path (not checked
 * against a reference: the deepseek_v3_fp8 fixture's stored scales are ~1e-14..1e-24, not usable).
 * RoPE types: default, linear and yarn are implemented ({@link io.moeprune.runtime.Rope}); dynamic, llama3 and
 * longrope are refused with a one-line error.
 */
package io.moeprune.runtime;
