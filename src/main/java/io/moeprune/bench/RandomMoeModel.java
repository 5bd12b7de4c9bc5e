package io.moeprune.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

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
import java.util.Map;

/**
 * Writes a random-weight Qwen3-MoE checkpoint (BF16, one safetensors shard per four layers plus the index) for
 * benchmarks at a realistic size. Default shape (a shallow, narrow-expert Qwen3-30B-A3B): hidden 2048, 16 layers,
 * 16 query / 4 key-value heads of 128, 64 experts (top-8) of intermediate 256, vocab 32768, untied head:
 * 1.91 B parameters (3.8 GB), of which 0.44 B are read per token.
 * Weights are uniform in ±0.02 (norms 1): the model says nothing useful, but every byte is as expensive to read as
 * in a trained model. With the embedding at that scale, each layer's attention output (the same average of values
 * for every token) outweighs the token's own embedding in the residual stream, and all tokens go to the same few
 * experts (a quarter of the experts of a 128-expert, top-8 shape); {@link #write(Path, Shape, long, int)} scales the
 * embedding up so that routing spreads over all experts, as a calibration of a real model reads them all.
 */
public final class RandomMoeModel {
    public record Shape(int hidden, int layers, int heads, int kvHeads, int headDim, int experts, int topK,
                        int moeIntermediate, int vocab) {
        public static final Shape DEFAULT = new Shape(2048, 16, 16, 4, 128, 64, 8, 256, 32768);

        long parameters() {
            long attention = (long) hidden * headDim * (2L * heads + 2L * kvHeads) + 2L * headDim;
            long moe = (long) experts * 3 * hidden * moeIntermediate + (long) experts * hidden;
            return layers * (attention + moe + 2L * hidden) + 2L * vocab * hidden + hidden;
        }
    }

    private RandomMoeModel() {
    }

    public static long write(Path dir, Shape s, long seed) throws IOException {
        return write(dir, s, seed, 1);
    }

    /**
     * The same with the embedding's values multiplied by {@code embeddingScale}, a power of two (so that the scaled
     * BF16 values are exact: a checkpoint written at scale 1 can be scaled afterwards to the same bytes).
     */
    public static long write(Path dir, Shape s, long seed, int embeddingScale) throws IOException {
        if (Integer.bitCount(embeddingScale) != 1) throw new IllegalArgumentException("embedding scale " + embeddingScale);
        Files.createDirectories(dir);
        writeConfig(dir, s);
        Map<String, String> weightMap = new LinkedHashMap<>();
        int layersPerShard = 4;
        int shards = (s.layers() + layersPerShard - 1) / layersPerShard + 1;
        List<String> files = new ArrayList<>();
        List<List<Entry>> shardEntries = new ArrayList<>();
        List<long[]> startStates = new ArrayList<>();
        long state = seed * 0x9E3779B97F4A7C15L + 1;
        for (int shard = 0; shard < shards; shard++) {
            String file = String.format("model-%05d-of-%05d.safetensors", shard + 1, shards);
            List<Entry> entries = new ArrayList<>();
            if (shard == shards - 1) {
                entries.add(new Entry("model.embed_tokens.weight", new long[]{s.vocab(), s.hidden()}, embeddingScale));
                entries.add(new Entry("lm_head.weight", new long[]{s.vocab(), s.hidden()}, false));
                entries.add(new Entry("model.norm.weight", new long[]{s.hidden()}, true));
            } else {
                for (int l = shard * layersPerShard; l < Math.min(s.layers(), (shard + 1) * layersPerShard); l++) {
                    layerEntries(s, l, entries);
                }
            }
            files.add(file);
            shardEntries.add(entries);
            // Each shard starts where the one sequential generator would be after the earlier shards' random values,
            // so the shards are written in parallel and the bytes are those of one sequential pass.
            startStates.add(new long[]{state});
            long draws = 0;
            for (Entry e : entries) if (!e.ones) draws += e.elements();
            state = Xorshift.jump(state, draws);
            for (Entry e : entries) weightMap.put(e.name, file);
        }
        int threads = Math.max(1, Math.min(shards, Runtime.getRuntime().availableProcessors()));
        try (var pool = java.util.concurrent.Executors.newFixedThreadPool(threads)) {
            List<java.util.concurrent.Future<?>> done = new ArrayList<>();
            for (int shard = 0; shard < shards; shard++) {
                int sh = shard;
                done.add(pool.submit(() -> {
                    writeShard(dir.resolve(files.get(sh)), shardEntries.get(sh), startStates.get(sh));
                    return null;
                }));
            }
            for (var f : done) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    if (e.getCause() instanceof IOException io) throw io;
                    throw new IllegalStateException(e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while writing " + dir, e);
                }
            }
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode index = json.createObjectNode();
        index.putObject("metadata").put("total_size", 2 * s.parameters());
        ObjectNode map = index.putObject("weight_map");
        weightMap.forEach(map::put);
        Files.writeString(dir.resolve("model.safetensors.index.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(index));
        return s.parameters();
    }

    /** A tensor to write: all ones, or random values times {@code scale}. */
    private record Entry(String name, long[] shape, boolean ones, int scale) {
        Entry(String name, long[] shape, boolean ones) {
            this(name, shape, ones, 1);
        }

        Entry(String name, long[] shape, int scale) {
            this(name, shape, false, scale);
        }

        long elements() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    private static void layerEntries(Shape s, int l, List<Entry> out) {
        String p = "model.layers." + l + ".";
        int q = s.heads() * s.headDim(), kv = s.kvHeads() * s.headDim();
        out.add(new Entry(p + "input_layernorm.weight", new long[]{s.hidden()}, true));
        out.add(new Entry(p + "post_attention_layernorm.weight", new long[]{s.hidden()}, true));
        out.add(new Entry(p + "self_attn.q_proj.weight", new long[]{q, s.hidden()}, false));
        out.add(new Entry(p + "self_attn.k_proj.weight", new long[]{kv, s.hidden()}, false));
        out.add(new Entry(p + "self_attn.v_proj.weight", new long[]{kv, s.hidden()}, false));
        out.add(new Entry(p + "self_attn.o_proj.weight", new long[]{s.hidden(), q}, false));
        out.add(new Entry(p + "self_attn.q_norm.weight", new long[]{s.headDim()}, true));
        out.add(new Entry(p + "self_attn.k_norm.weight", new long[]{s.headDim()}, true));
        out.add(new Entry(p + "mlp.gate.weight", new long[]{s.experts(), s.hidden()}, false));
        for (int e = 0; e < s.experts(); e++) {
            String x = p + "mlp.experts." + e + ".";
            out.add(new Entry(x + "gate_proj.weight", new long[]{s.moeIntermediate(), s.hidden()}, false));
            out.add(new Entry(x + "up_proj.weight", new long[]{s.moeIntermediate(), s.hidden()}, false));
            out.add(new Entry(x + "down_proj.weight", new long[]{s.hidden(), s.moeIntermediate()}, false));
        }
    }

    private static void writeShard(Path file, List<Entry> entries, long[] rng) throws IOException {
        ByteBuffer head = SafetensorsHeader.of(entries.stream()
                .map(e -> new SafetensorsHeader.Tensor(e.name, "BF16", e.shape, 2 * e.elements())).toList());
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (head.hasRemaining()) ch.write(head);
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
            short one = (short) (Float.floatToIntBits(1f) >>> 16);
            for (Entry e : entries) {
                long left = e.elements();
                while (left > 0) {
                    buf.clear();
                    int n = (int) Math.min(left, buf.capacity() / 2);
                    for (int i = 0; i < n; i++) buf.putShort(e.ones ? one : randomBf16(rng, e.scale));
                    left -= n;
                    ch.write(buf.flip());
                }
            }
        }
    }

    /** Uniform in ±0.02 times {@code scale} as BF16, from a xorshift generator. */
    private static short randomBf16(long[] s, int scale) {
        long x = Xorshift.next(s[0]);
        s[0] = x;
        float f = ((x >>> 40) / (float) (1L << 24) - 0.5f) * 0.04f * scale;
        return (short) (Float.floatToIntBits(f) >>> 16);
    }

    private static void writeConfig(Path dir, Shape s) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = json.createObjectNode();
        c.putArray("architectures").add("Qwen3MoeForCausalLM");
        c.put("model_type", "qwen3_moe");
        c.put("attention_bias", false);
        c.put("decoder_sparse_step", 1);
        c.put("dtype", "bfloat16");
        c.put("head_dim", s.headDim());
        c.put("hidden_act", "silu");
        c.put("hidden_size", s.hidden());
        c.put("intermediate_size", 4 * s.hidden());
        c.put("max_position_embeddings", 4096);
        c.putArray("mlp_only_layers");
        c.put("moe_intermediate_size", s.moeIntermediate());
        c.put("norm_topk_prob", true);
        c.put("num_attention_heads", s.heads());
        c.put("num_experts", s.experts());
        c.put("num_experts_per_tok", s.topK());
        c.put("num_hidden_layers", s.layers());
        c.put("num_key_value_heads", s.kvHeads());
        c.put("rms_norm_eps", 1e-6);
        c.putObject("rope_parameters").put("rope_theta", 1000000.0).put("rope_type", "default");
        c.put("tie_word_embeddings", false);
        c.put("use_sliding_window", false);
        c.put("vocab_size", s.vocab());
        Files.writeString(dir.resolve("config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(c));
    }
}
