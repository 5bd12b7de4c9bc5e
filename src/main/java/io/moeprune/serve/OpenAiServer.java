package io.moeprune.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * The OpenAI-compatible HTTP API on Helidon SE: /v1/completions, /v1/chat/completions (stream: true as server-sent
 * events), /v1/models, /health and /metrics (Prometheus text). Model ids: the served name, and with a pattern store
 * NAME/TASK for each stored task (that pattern instead of the matched one).
 */
public final class OpenAiServer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final CompletionEngine engine;
    private final String modelName;
    private final Metrics metrics = new Metrics();
    private final long created = System.currentTimeMillis() / 1000;
    private final WebServer server;

    private OpenAiServer(String host, int port, String modelName, CompletionEngine engine) {
        this.engine = engine;
        this.modelName = modelName;
        // No shutdown hook of Helidon's own: it would stop the server at SIGTERM under the streams in flight; serve's
        // hook drains them first and then closes this server.
        this.server = WebServer.builder().host(host).port(port).shutdownHook(false).routing(this::routes).build().start();
    }

    public static OpenAiServer start(String host, int port, String modelName, CompletionEngine engine) {
        return new OpenAiServer(host, port, modelName, engine);
    }

    public int port() {
        return server.port();
    }

    @Override
    public void close() {
        server.stop();
        engine.close();
    }

    private void routes(HttpRouting.Builder r) {
        r.get("/health", (req, res) -> send(res, "/health", 200, "{\"status\":\"ok\"}"))
                .get("/metrics", (req, res) -> {
                    metrics.request("/metrics", 200);
                    res.header(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
                    res.send(metrics.prometheus(engine.batchCounts(), engine.expertStats(), engine.routing().matchCounts())
                            .getBytes(StandardCharsets.UTF_8));
                })
                .get("/v1/models", (req, res) -> send(res, "/v1/models", 200, models().toString()))
                .post("/v1/completions", (req, res) -> complete(req, res, false))
                .post("/v1/chat/completions", (req, res) -> complete(req, res, true));
    }

    private ObjectNode models() {
        ObjectNode o = JSON.createObjectNode().put("object", "list");
        ArrayNode data = o.putArray("data");
        data.addObject().put("id", modelName).put("object", "model").put("created", created).put("owned_by", "moeprune");
        for (String t : engine.routing().tasks()) {
            data.addObject().put("id", modelName + "/" + t).put("object", "model").put("created", created)
                    .put("owned_by", "moeprune");
        }
        return o;
    }

    private void complete(ServerRequest req, ServerResponse res, boolean chat) {
        String endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
        try {
            JsonNode body;
            try {
                body = JSON.readTree(req.content().as(String.class));
            } catch (JsonProcessingException e) {
                throw ApiError.invalid(null, "the request body is not valid JSON");
            }
            CompletionRequest cr = CompletionRequest.parse(body, chat);
            String task = task(cr.model());
            int[] prompt = engine.encode(cr);
            String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID();
            engine.requireAccepting();
            if (cr.stream()) {
                stream(res, cr, prompt, task, id, chat);
                metrics.request(endpoint, 200);
                return;
            }
            CompletionEngine.Result r = engine.complete(cr, prompt, task, s -> true);
            metrics.completion(r.promptTokens(), r.completionTokens(), r.nanos(), r.pattern());
            ObjectNode o = head(id, chat ? "chat.completion" : "text_completion", cr.model());
            ObjectNode choice = o.putArray("choices").addObject().put("index", 0);
            if (chat) choice.putObject("message").put("role", "assistant").put("content", r.text()).putNull("refusal");
            else choice.put("text", r.text());
            choice.putNull("logprobs").put("finish_reason", r.finishReason());
            o.putObject("usage").put("prompt_tokens", r.promptTokens()).put("completion_tokens", r.completionTokens())
                    .put("total_tokens", r.promptTokens() + r.completionTokens());
            if (r.pattern() != null) res.header("x-moeprune-pattern", r.pattern());
            send(res, endpoint, 200, o.toString());
        } catch (ApiError e) {
            send(res, endpoint, e.status(), e.body());
        }
    }

    /** Server-sent events: one chunk per piece of text, a last one with the finish reason, then [DONE]. */
    private void stream(ServerResponse res, CompletionRequest cr, int[] prompt, String task, String id, boolean chat) {
        res.header(HeaderNames.CONTENT_TYPE, "text/event-stream");
        res.header(HeaderNames.CACHE_CONTROL, "no-cache");
        String object = chat ? "chat.completion.chunk" : "text_completion";
        try (OutputStream os = res.outputStream()) {
            boolean[] first = {true};
            CompletionEngine.Result r = engine.complete(cr, prompt, task, text -> {
                ObjectNode chunk = chunk(id, object, cr.model(), chat, text, null, first[0]);
                first[0] = false;
                return event(os, chunk.toString());
            });
            metrics.completion(r.promptTokens(), r.completionTokens(), r.nanos(), r.pattern());
            if (event(os, chunk(id, object, cr.model(), chat, null, r.finishReason(), first[0]).toString())) event(os, "[DONE]");
        } catch (IOException | RuntimeException gone) {
            // The client went away: generation has stopped (event returned false); nothing is left to answer.
        }
    }

    private ObjectNode chunk(String id, String object, String model, boolean chat, String text, String finish, boolean first) {
        ObjectNode o = head(id, object, model);
        ObjectNode choice = o.putArray("choices").addObject().put("index", 0);
        if (chat) {
            ObjectNode delta = choice.putObject("delta");
            if (first) delta.put("role", "assistant");
            if (text != null) delta.put("content", text);
        } else {
            choice.put("text", text == null ? "" : text);
        }
        choice.putNull("logprobs");
        if (finish == null) choice.putNull("finish_reason");
        else choice.put("finish_reason", finish);
        return o;
    }

    /** Writes one event; false when the client is gone. */
    private static boolean event(OutputStream os, String data) {
        try {
            os.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
            os.flush();
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private ObjectNode head(String id, String object, String model) {
        return JSON.createObjectNode().put("id", id).put("object", object).put("created", System.currentTimeMillis() / 1000)
                .put("model", model);
    }

    /** The stored task a model id names: null for the served name, 404 for an unknown id. */
    private String task(String model) {
        if (model.equals(modelName)) return null;
        String prefix = modelName + "/";
        if (model.startsWith(prefix) && engine.routing().tasks().contains(model.substring(prefix.length()))) {
            return model.substring(prefix.length());
        }
        throw new ApiError(404, "invalid_request_error", "model", "model_not_found",
                "The model '" + model + "' does not exist; GET /v1/models lists the served ones");
    }

    private void send(ServerResponse res, String endpoint, int status, String json) {
        metrics.request(endpoint, status);
        res.status(status);
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(json.getBytes(StandardCharsets.UTF_8));
    }
}
