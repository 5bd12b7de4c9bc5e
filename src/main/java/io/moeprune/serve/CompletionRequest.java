package io.moeprune.serve;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One /v1/completions or /v1/chat/completions request, validated. {@code messages} is null for a plain completion,
 * {@code prompt} null for a chat.
 */
public record CompletionRequest(String model, String prompt, List<Map<String, String>> messages, int maxTokens,
                                float temperature, float topP, long seed, boolean stream, List<String> stop) {

    /** Parses a request body; every problem is a 400 naming the field. */
    public static CompletionRequest parse(JsonNode body, boolean chat) {
        if (body == null || !body.isObject()) throw ApiError.invalid(null, "the request body must be a JSON object");
        JsonNode model = body.get("model");
        if (model == null || !model.isTextual()) throw ApiError.invalid("model", "\"model\" must be a string");
        String prompt = null;
        List<Map<String, String>> messages = null;
        if (chat) {
            JsonNode ms = body.get("messages");
            if (ms == null || !ms.isArray() || ms.isEmpty()) throw ApiError.invalid("messages", "\"messages\" must be a non-empty array");
            messages = new ArrayList<>();
            for (JsonNode m : ms) {
                if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
                    throw ApiError.invalid("messages", "each message needs string \"role\" and \"content\"");
                }
                Map<String, String> msg = new LinkedHashMap<>();
                msg.put("role", m.get("role").asText());
                msg.put("content", m.get("content").asText());
                messages.add(msg);
            }
        } else {
            JsonNode p = body.get("prompt");
            if (p != null && p.isArray() && p.size() == 1 && p.get(0).isTextual()) p = p.get(0);
            if (p == null || !p.isTextual()) throw ApiError.invalid("prompt", "\"prompt\" must be a string");
            prompt = p.asText();
        }
        JsonNode maxNode = body.hasNonNull("max_completion_tokens") ? body.get("max_completion_tokens") : body.get("max_tokens");
        int maxTokens = chat ? 256 : 16;
        if (maxNode != null && !maxNode.isNull()) {
            if (!maxNode.isIntegralNumber() || maxNode.asLong() < 1 || maxNode.asLong() > 1 << 20) {
                throw ApiError.invalid("max_tokens", "\"max_tokens\" must be a positive integer");
            }
            maxTokens = maxNode.asInt();
        }
        float temperature = (float) number(body, "temperature", 1.0, 0, 2);
        float topP = (float) number(body, "top_p", 1.0, Double.MIN_VALUE, 1);
        JsonNode seed = body.get("seed");
        if (seed != null && !seed.isNull() && !seed.isIntegralNumber()) throw ApiError.invalid("seed", "\"seed\" must be an integer");
        JsonNode stream = body.get("stream");
        if (stream != null && !stream.isNull() && !stream.isBoolean()) throw ApiError.invalid("stream", "\"stream\" must be a boolean");
        JsonNode n = body.get("n");
        if (n != null && !n.isNull() && n.asInt() != 1) throw ApiError.invalid("n", "only n = 1 is supported");
        return new CompletionRequest(model.asText(), prompt, messages, maxTokens, temperature, topP,
                seed == null || seed.isNull() ? 0 : seed.asLong(), stream != null && stream.asBoolean(), stops(body.get("stop")));
    }

    private static double number(JsonNode body, String key, double dflt, double min, double max) {
        JsonNode v = body.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.isNumber() || v.asDouble() < min || v.asDouble() > max) {
            throw ApiError.invalid(key, "\"" + key + "\" must be a number in [" + (min == Double.MIN_VALUE ? "0 (excluded)" : min)
                    + ", " + max + "]");
        }
        return v.asDouble();
    }

    private static List<String> stops(JsonNode stop) {
        if (stop == null || stop.isNull()) return List.of();
        if (stop.isTextual()) return List.of(stop.asText());
        if (!stop.isArray()) throw ApiError.invalid("stop", "\"stop\" must be a string or an array of strings");
        List<String> s = new ArrayList<>();
        for (JsonNode x : stop) {
            if (!x.isTextual() || x.asText().isEmpty()) throw ApiError.invalid("stop", "\"stop\" must hold non-empty strings");
            s.add(x.asText());
        }
        return s;
    }
}
