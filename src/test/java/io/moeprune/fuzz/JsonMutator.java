package io.moeprune.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Corruptions of a JSON file (config.json, tokenizer.json, model.safetensors.index.json): structural edits of a
 * random value anywhere in the tree, and byte-level damage of the text.
 */
final class JsonMutator {
    enum Kind { MISSING_KEY, WRONG_TYPE, HOSTILE_NUMBER, NON_UTF8, DEEP_NESTING, TEXT_EDIT, SPECIFIC }

    static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    static final String[] HOSTILE_NUMBERS = {"-1", "0", "2147483647", "-2147483648", "2147483648", "1000000",
            "1e6", "1e300", "-1e300", "1e400", "0.5", "-0.0", "9223372036854775807", "18446744073709551616", "1e-300"};

    private JsonMutator() {
    }

    /** A place in the tree: a field of an object or an element of an array. */
    private record Slot(JsonNode parent, String field, int index) {
        JsonNode get() {
            return parent instanceof ObjectNode o ? o.get(field) : parent.get(index);
        }

        void set(JsonNode v) {
            if (parent instanceof ObjectNode o) o.set(field, v);
            else ((ArrayNode) parent).set(index, v);
        }

        void remove() {
            if (parent instanceof ObjectNode o) o.remove(field);
            else ((ArrayNode) parent).remove(index);
        }
    }

    static byte[] mutate(byte[] seed, Kind kind, Random rnd, Specific specific) throws java.io.IOException {
        if (kind == Kind.NON_UTF8) return nonUtf8(seed, rnd);
        if (kind == Kind.TEXT_EDIT) return textEdit(seed, rnd);
        JsonNode root = JSON.readTree(seed);
        List<Slot> slots = new ArrayList<>();
        collect(root, slots, 0);
        Slot s = slots.get(rnd.nextInt(slots.size()));
        switch (kind) {
            case MISSING_KEY -> s.remove();
            case WRONG_TYPE -> s.set(switch (rnd.nextInt(7)) {
                case 0 -> F.textNode("x\ny");
                case 1 -> F.nullNode();
                case 2 -> F.arrayNode().add(1).add("a");
                case 3 -> F.objectNode().put("k", 1);
                case 4 -> F.booleanNode(true);
                case 5 -> F.numberNode(1.5);
                default -> F.textNode("é".repeat(1 + rnd.nextInt(3000)));
            });
            case HOSTILE_NUMBER -> s.set(JSON.readTree(HOSTILE_NUMBERS[rnd.nextInt(HOSTILE_NUMBERS.length)]));
            case DEEP_NESTING -> s.set(JSON.readTree("[".repeat(900) + "]".repeat(900)));
            case SPECIFIC -> specific.apply((ObjectNode) root, rnd);
            default -> throw new IllegalStateException(kind.toString());
        }
        return JSON.writeValueAsBytes(root);
    }

    /** A mutation that knows the file's structure (vocabulary ids, merges, weight_map entries). */
    interface Specific {
        void apply(ObjectNode root, Random rnd) throws java.io.IOException;
    }

    /** Every slot, visited breadth-first in document order; big arrays and objects (vocabularies) are sampled. */
    private static void collect(JsonNode node, List<Slot> out, int depth) {
        if (depth > 6) return;
        if (node instanceof ObjectNode o) {
            List<String> names = new ArrayList<>();
            o.fieldNames().forEachRemaining(names::add);
            for (int i = 0; i < names.size(); i += Math.max(1, names.size() / 64)) {
                out.add(new Slot(o, names.get(i), -1));
                collect(o.get(names.get(i)), out, depth + 1);
            }
        } else if (node instanceof ArrayNode a) {
            for (int i = 0; i < a.size(); i += Math.max(1, a.size() / 64)) {
                out.add(new Slot(a, null, i));
                collect(a.get(i), out, depth + 1);
            }
        }
    }

    private static byte[] nonUtf8(byte[] seed, Random rnd) {
        byte[] b = seed.clone();
        int pos = rnd.nextInt(b.length);
        b[pos] = (byte) (0x80 + rnd.nextInt(0x80));   // a lone continuation or an invalid lead byte
        if (rnd.nextBoolean() && pos + 1 < b.length) b[pos + 1] = (byte) 0xff;
        return b;
    }

    private static byte[] textEdit(byte[] seed, Random rnd) {
        String t = new String(seed, StandardCharsets.UTF_8);
        StringBuilder s = new StringBuilder(t);
        switch (rnd.nextInt(4)) {
            case 0 -> s.setLength(rnd.nextInt(s.length()));                         // truncated file
            case 1 -> s.insert(1, "\"model_type\":\"x\",\"model_type\":\"y\",");   // duplicate key
            case 2 -> {
                for (int k = 1 + rnd.nextInt(4); k > 0; k--) {
                    s.setCharAt(rnd.nextInt(s.length()), "{}[]\",:0-e\\ \n".charAt(rnd.nextInt(13)));
                }
            }
            default -> s.replace(0, s.length(), rnd.nextBoolean() ? "[]" : rnd.nextBoolean() ? "" : "null");
        }
        return s.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** Keys of config.json that size or scale what the runtime allocates and computes. */
    static final String[] SIZE_KEYS = {"num_hidden_layers", "num_local_experts", "num_experts", "n_routed_experts",
            "hidden_size", "vocab_size", "num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size",
            "moe_intermediate_size", "num_experts_per_tok", "rms_norm_eps", "rope_theta", "n_group", "topk_group",
            "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "sliding_window",
            "first_k_dense_replace", "decoder_sparse_step", "shared_expert_intermediate_size", "n_shared_experts",
            "max_position_embeddings", "routed_scaling_factor", "num_nextn_predict_layers", "swiglu_limit"};

    /** config.json: a hostile number in a key that sizes the model (set even where the fixture lacks it). */
    static void config(ObjectNode root, Random rnd) throws java.io.IOException {
        String key = SIZE_KEYS[rnd.nextInt(SIZE_KEYS.length)];
        root.set(key, JSON.readTree(HOSTILE_NUMBERS[rnd.nextInt(HOSTILE_NUMBERS.length)]));
        if (rnd.nextInt(4) == 0) root.putObject("rope_scaling").put("rope_type", rnd.nextBoolean() ? "bogus" : "yarn")
                .set("factor", JSON.readTree(HOSTILE_NUMBERS[rnd.nextInt(HOSTILE_NUMBERS.length)]));
    }

    /** tokenizer.json: vocabulary ids -1 / huge / duplicate, merges with newlines, missing sections. */
    static void tokenizer(ObjectNode root, Random rnd) {
        JsonNode model = root.get("model");
        if (!(model instanceof ObjectNode m)) return;
        JsonNode vocab = m.get("vocab");
        JsonNode merges = m.get("merges");
        switch (rnd.nextInt(5)) {
            case 0, 1 -> {
                if (vocab instanceof ObjectNode v && !v.isEmpty()) {
                    List<String> names = new ArrayList<>();
                    v.fieldNames().forEachRemaining(names::add);
                    String token = names.get(rnd.nextInt(names.size()));
                    long[] ids = {-1, Integer.MAX_VALUE, Integer.MIN_VALUE, 1L << 40, v.get(names.getFirst()).asLong(),
                            names.size(), 1 << 24};
                    v.put(token, ids[rnd.nextInt(ids.length)]);
                }
            }
            case 2 -> {
                if (merges instanceof ArrayNode a && !a.isEmpty()) {
                    int i = rnd.nextInt(a.size());
                    JsonNode merge = a.get(i);
                    if (merge.isTextual()) a.set(i, F.textNode(merge.asText().replace(" ", rnd.nextBoolean() ? "\n" : " \n ")));
                    else a.set(i, F.arrayNode().add("a\nb").add(rnd.nextBoolean() ? "c" : ""));
                }
            }
            case 3 -> {
                ArrayNode added = root.withArray("added_tokens");
                added.addObject().put("id", rnd.nextBoolean() ? -5 : 1L << 33).put("content", "<x\n>").put("special", true);
            }
            default -> {
                String[] sections = {"model", "normalizer", "pre_tokenizer", "decoder", "added_tokens"};
                String[] modelFields = {"vocab", "merges", "type", "unk_token"};
                if (rnd.nextBoolean()) root.remove(sections[rnd.nextInt(sections.length)]);
                else m.remove(modelFields[rnd.nextInt(modelFields.length)]);
            }
        }
    }

    /** model.safetensors.index.json: shards missing or wrongly named, tensors moved, dropped or invented. */
    static void index(ObjectNode root, Random rnd) {
        JsonNode map = root.get("weight_map");
        if (!(map instanceof ObjectNode w) || w.isEmpty()) return;
        List<String> names = new ArrayList<>();
        w.fieldNames().forEachRemaining(names::add);
        String tensor = names.get(rnd.nextInt(names.size()));
        List<String> shards = new ArrayList<>();
        w.elements().forEachRemaining(e -> shards.add(e.asText()));
        switch (rnd.nextInt(6)) {
            case 0 -> w.put(tensor, "model-00009-of-00009.safetensors");                       // missing shard
            case 1 -> w.put(tensor, Arrays.asList("../config.json", "", "/etc/passwd", ".", "a\u0000b", "config.json")
                    .get(rnd.nextInt(6)));                                                   // wrong names
            case 2 -> w.put(tensor, shards.get(rnd.nextInt(shards.size())));                 // moved to another shard
            case 3 -> w.remove(tensor);                                                       // dropped
            case 4 -> w.put(tensor + ".extra", shards.getFirst());                            // invented
            default -> {                                                                      // a shard's name changed
                String from = shards.get(rnd.nextInt(shards.size()));
                String to = from.replace("00001", "00004").replace("00002", "0002");
                for (String n : names) if (w.get(n).asText().equals(from)) w.put(n, to);
            }
        }
    }
}
