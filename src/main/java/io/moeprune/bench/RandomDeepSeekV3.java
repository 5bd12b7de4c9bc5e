package io.moeprune.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.kernels.Weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Writes a random-weight DeepSeek-V3 checkpoint as the released one is stored: every attention and MLP projection FP8
 * E4M3 with 128×128 block scales ({@code weight_scale_inv}, {@code quantization_config.weight_block_size} [128, 128]),
 * router, norms, embedding and head BF16, the selection bias F32; dense first layers ({@code first_k_dense_replace}),
 * then MoE layers of routed experts (sigmoid scores, groups) and shared experts. {@link Shape#FULL} has DeepSeek-V3's
 * exact layer shapes (hidden 7168, MLA with q LoRA 1536, KV LoRA 512, rope 64, nope 128, v 128, 128 heads; 256 experts
 * of 2048, top 8 of 8 groups / top 4 groups, one shared expert; a dense layer of 18432) with 1 dense and 3 MoE layers
 * and a vocabulary of 32000: 36 GB, of which each MoE layer is 11.5 GB.
 *
 * <p>Written streamingly, one shard per layer: nothing larger than the 32 MB random patterns is held. Weights repeat
 * a pattern from a random offset (the bytes cost what real ones cost to read and multiply; generating 36 GB with a
 * generator per byte would take minutes): FP8 values of magnitude 0.5-7.5 and either sign (no NaN, no subnormals),
 * scales 0.01 (weights 0.005-0.075 in magnitude), BF16 weights ±0.02, the embedding ±5 (so that routing spreads over
 * the experts, as {@link RandomMoeModel} found for its random models).
 */
public final class RandomDeepSeekV3 {
    public record Shape(int hidden, int denseLayers, int moeLayers, int heads, int qLora, int kvLora, int rope, int nope,
                        int v, int experts, int topK, int groups, int topkGroup, int moeInter, int denseInter,
                        int vocab) {
        public static final Shape FULL = new Shape(7168, 1, 3, 128, 1536, 512, 64, 128, 128, 256, 8, 8, 4, 2048, 18432,
                32000);

        /** This shape with fields changed by "name=value,..." (e.g. "hidden=1024,experts=32,moeLayers=1"). */
        public Shape with(String overrides) {
            Map<String, Integer> f = new LinkedHashMap<>();
            for (var c : Shape.class.getRecordComponents()) {
                try {
                    f.put(c.getName(), (Integer) c.getAccessor().invoke(this));
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException(e);
                }
            }
            if (overrides != null && !overrides.isBlank()) {
                for (String kv : overrides.split(",")) {
                    String[] p = kv.trim().split("=");
                    if (p.length != 2 || !f.containsKey(p[0])) {
                        throw new IllegalArgumentException("shape override '" + kv + "': not name=value with a name of "
                                + f.keySet());
                    }
                    f.put(p[0], Integer.parseInt(p[1]));
                }
            }
            Integer[] v = f.values().toArray(new Integer[0]);
            return new Shape(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13],
                    v[14], v[15]);
        }

        public int layers() {
            return denseLayers + moeLayers;
        }
    }

    private static final int PATTERN = 1 << 24;

    /** One stored tensor: its dtype, its shape, and how it is filled. */
    private record Entry(String name, String dtype, long[] shape, Fill fill) {
        long bytes() {
            long n = dtype.equals("F8_E4M3") ? 1 : dtype.equals("F32") ? 4 : 2;
            for (long d : shape) n *= d;
            return n;
        }
    }

    private enum Fill { FP8, SCALES, BF16, EMBEDDING, ONES, ZEROS }

    private RandomDeepSeekV3() {
    }

    /** Writes the checkpoint into dir (created); returns its bytes. */
    public static long write(Path dir, Shape s, long seed) throws IOException {
        Files.createDirectories(dir);
        writeConfig(dir, s);
        Patterns patterns = new Patterns(seed);
        Map<String, String> weightMap = new LinkedHashMap<>();
        long total = 0;
        int shards = s.layers() + 1;
        for (int shard = 0; shard < shards; shard++) {
            List<Entry> entries = new ArrayList<>();
            if (shard < s.layers()) {
                layer(s, shard, entries);
            } else {
                entries.add(new Entry("model.embed_tokens.weight", "BF16", new long[]{s.vocab(), s.hidden()}, Fill.EMBEDDING));
                entries.add(new Entry("lm_head.weight", "BF16", new long[]{s.vocab(), s.hidden()}, Fill.BF16));
                entries.add(new Entry("model.norm.weight", "BF16", new long[]{s.hidden()}, Fill.ONES));
            }
            String file = String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", shard + 1, shards);
            total += writeShard(dir.resolve(file), entries, patterns);
            for (Entry e : entries) weightMap.put(e.name(), file);
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode index = json.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        ObjectNode map = index.putObject("weight_map");
        weightMap.forEach(map::put);
        Files.writeString(dir.resolve("model.safetensors.index.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(index));
        return total;
    }

    private static void layer(Shape s, int l, List<Entry> out) {
        String p = "model.layers." + l + ".";
        int h = s.hidden();
        out.add(new Entry(p + "input_layernorm.weight", "BF16", new long[]{h}, Fill.ONES));
        out.add(new Entry(p + "post_attention_layernorm.weight", "BF16", new long[]{h}, Fill.ONES));
        String a = p + "self_attn.";
        fp8(out, a + "q_a_proj.weight", s.qLora(), h);
        out.add(new Entry(a + "q_a_layernorm.weight", "BF16", new long[]{s.qLora()}, Fill.ONES));
        fp8(out, a + "q_b_proj.weight", (long) s.heads() * (s.nope() + s.rope()), s.qLora());
        fp8(out, a + "kv_a_proj_with_mqa.weight", s.kvLora() + s.rope(), h);
        out.add(new Entry(a + "kv_a_layernorm.weight", "BF16", new long[]{s.kvLora()}, Fill.ONES));
        fp8(out, a + "kv_b_proj.weight", (long) s.heads() * (s.nope() + s.v()), s.kvLora());
        fp8(out, a + "o_proj.weight", h, (long) s.heads() * s.v());
        if (l < s.denseLayers()) {
            mlp(out, p + "mlp.", s.denseInter(), h);
            return;
        }
        out.add(new Entry(p + "mlp.gate.weight", "BF16", new long[]{s.experts(), h}, Fill.BF16));
        out.add(new Entry(p + "mlp.gate.e_score_correction_bias", "F32", new long[]{s.experts()}, Fill.ZEROS));
        for (int e = 0; e < s.experts(); e++) mlp(out, p + "mlp.experts." + e + ".", s.moeInter(), h);
        mlp(out, p + "mlp.shared_experts.", s.moeInter(), h);
    }

    private static void mlp(List<Entry> out, String p, long inter, long hidden) {
        fp8(out, p + "gate_proj.weight", inter, hidden);
        fp8(out, p + "up_proj.weight", inter, hidden);
        fp8(out, p + "down_proj.weight", hidden, inter);
    }

    private static void fp8(List<Entry> out, String name, long rows, long cols) {
        out.add(new Entry(name, "F8_E4M3", new long[]{rows, cols}, Fill.FP8));
        out.add(new Entry(name + "_scale_inv", "F32",
                new long[]{Weights.scaleRows((int) rows), Weights.scaleRows((int) cols)}, Fill.SCALES));
    }

    /** Random byte patterns, written from a rotating offset. */
    private static final class Patterns {
        final ByteBuffer fp8 = ByteBuffer.allocateDirect(2 * PATTERN), bf16 = ByteBuffer.allocateDirect(2 * PATTERN);
        final ByteBuffer embedding = ByteBuffer.allocateDirect(2 * PATTERN);
        final Random rnd;

        Patterns(long seed) {
            rnd = new Random(seed);
            long x = seed * 0x9E3779B97F4A7C15L + 1;
            for (int i = 0; i < 2 * PATTERN; i += 2) {
                x ^= x << 13;
                x ^= x >>> 7;
                x ^= x << 17;
                // E4M3 with exponent field 6..9 (0.5 to 7.5) and either sign: no NaN, no subnormal.
                fp8.put(i, (byte) ((x & 0x80) | (6 + (x >>> 8 & 3)) << 3 | (x >>> 16 & 7)));
                fp8.put(i + 1, (byte) ((x >>> 24 & 0x80) | (6 + (x >>> 32 & 3)) << 3 | (x >>> 40 & 7)));
                float u = ((x >>> 40) / (float) (1L << 24) - 0.5f) * 0.04f;
                short b = (short) (Float.floatToIntBits(u) >>> 16), e = (short) (Float.floatToIntBits(u * 256) >>> 16);
                bf16.order(ByteOrder.LITTLE_ENDIAN).putShort(i, b);
                embedding.order(ByteOrder.LITTLE_ENDIAN).putShort(i, e);
            }
        }

        /** A read-only view of the pattern from a random even offset, of at most PATTERN bytes. */
        ByteBuffer slice(ByteBuffer pattern, long left) {
            int off = 2 * rnd.nextInt(PATTERN / 2);
            return pattern.duplicate().position(off).limit(off + (int) Math.min(left, PATTERN)).slice();
        }
    }

    private static long writeShard(Path file, List<Entry> entries, Patterns patterns) throws IOException {
        ByteBuffer head = SafetensorsHeader.of(entries.stream()
                .map(e -> new SafetensorsHeader.Tensor(e.name(), e.dtype(), e.shape(), e.bytes())).toList());
        long offset = entries.stream().mapToLong(Entry::bytes).sum();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeAll(ch, head);
            for (Entry e : entries) writeTensor(ch, e, patterns);
        }
        return offset;
    }

    private static void writeTensor(FileChannel ch, Entry e, Patterns patterns) throws IOException {
        long left = e.bytes();
        switch (e.fill()) {
            case FP8, BF16, EMBEDDING -> {
                ByteBuffer pattern = e.fill() == Fill.FP8 ? patterns.fp8 : e.fill() == Fill.BF16 ? patterns.bf16
                        : patterns.embedding;
                while (left > 0) {
                    ByteBuffer part = patterns.slice(pattern, left);
                    left -= part.remaining();
                    writeAll(ch, part);
                }
            }
            case SCALES, ONES, ZEROS -> {
                ByteBuffer b = ByteBuffer.allocate((int) left).order(ByteOrder.LITTLE_ENDIAN);
                short one = (short) (Float.floatToIntBits(1f) >>> 16);
                while (b.hasRemaining()) {
                    if (e.fill() == Fill.SCALES) b.putFloat(0.01f);
                    else if (e.fill() == Fill.ONES) b.putShort(one);
                    else b.put((byte) 0);
                }
                writeAll(ch, b.flip());
            }
        }
    }

    private static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    private static void writeConfig(Path dir, Shape s) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = json.createObjectNode();
        c.putArray("architectures").add("DeepseekV3ForCausalLM");
        c.put("model_type", "deepseek_v3");
        c.put("attention_bias", false);
        c.put("dtype", "bfloat16");
        c.put("first_k_dense_replace", s.denseLayers());
        c.put("head_dim", s.rope());
        c.put("hidden_act", "silu");
        c.put("hidden_size", s.hidden());
        c.put("intermediate_size", s.denseInter());
        c.put("kv_lora_rank", s.kvLora());
        c.put("max_position_embeddings", 4096);
        c.put("moe_intermediate_size", s.moeInter());
        c.put("n_group", s.groups());
        c.put("n_routed_experts", s.experts());
        c.put("n_shared_experts", 1);
        c.put("norm_topk_prob", true);
        c.put("num_attention_heads", s.heads());
        c.put("num_experts_per_tok", s.topK());
        c.put("num_hidden_layers", s.layers());
        c.put("num_key_value_heads", s.heads());
        c.put("num_nextn_predict_layers", 0);
        c.put("q_lora_rank", s.qLora());
        c.put("qk_head_dim", s.nope() + s.rope());
        c.put("qk_nope_head_dim", s.nope());
        c.put("qk_rope_head_dim", s.rope());
        ObjectNode q = c.putObject("quantization_config");
        q.put("activation_scheme", "dynamic");
        q.put("fmt", "e4m3");
        q.put("quant_method", "fp8");
        q.putArray("weight_block_size").add(128).add(128);
        c.put("rms_norm_eps", 1e-6);
        c.put("rope_interleave", true);
        c.putObject("rope_parameters").put("rope_theta", 10000.0).put("rope_type", "default");
        c.put("routed_scaling_factor", 2.5);
        c.put("tie_word_embeddings", false);
        c.put("topk_group", s.topkGroup());
        c.put("v_head_dim", s.v());
        c.put("vocab_size", s.vocab());
        Files.writeString(dir.resolve("config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(c));
    }
}
