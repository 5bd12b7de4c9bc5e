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
 * {@link io.moeprune.runtime.family.Families}. Qwen3-MoE, Qwen2-MoE, OLMoE, Mixtral and GraniteMoE share
 * {@link io.moeprune.runtime.family.LlamaStyleFamily}; their differences are data in the ModelSpec (GraniteMoE's
 * fused expert tensors are sliced into per-expert views, its multipliers are applied by Model and DecoderLayer).
 * To add:
 * <ul>
 *   <li>DeepSeek-V2/V3: an {@code MlaAttention} (AttentionLayer with its own cache widths: compressed kv + rope
 *       key) and a {@code DeepSeekFamily}; routing (sigmoid, selection bias, groups, scaling) is already in
 *       {@link io.moeprune.runtime.Router}; shared experts are already in MoeBlock; DeepSeek's yarn mscale² softmax
 *       factor goes into the attention scale.</li>
 *   <li>gpt-oss: an ExpertWeights over the fused interleaved gate_up tensors with biases and the clamped SwiGLU,
 *       attention sinks and sliding layers in GqaAttention, router bias (already supported).</li>
 * * </ul>
 * RoPE types: default, linear and yarn are implemented ({@link io.moeprune.runtime.Rope}); dynamic, llama3 and
 * longrope are refused with a one-line error.
 */
package io.moeprune.runtime;
