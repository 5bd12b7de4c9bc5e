package io.moeprune.serve;

import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Sampler;
import io.moeprune.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;

/**
 * Runs completions on the CPU runtime, one request at a time in arrival order (a fair lock is the queue): a first
 * version without continuous batching. Text is handed out as it is decoded, never inside a multi-byte character
 * and never the start of a stop string.
 */
public final class CompletionEngine {
    private final Model model;
    private final Tokenizer tokenizer;
    private final ExpertRouting routing;
    private final int context;
    private final ReentrantLock queue = new ReentrantLock(true);

    public CompletionEngine(Model model, Tokenizer tokenizer, ExpertRouting routing, int context) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.routing = routing;
        this.context = context;
    }

    public ExpertRouting routing() {
        return routing;
    }

    /** What a request produced. {@code finishReason} is "stop" (end of sequence or a stop string) or "length". */
    public record Result(String text, int promptTokens, int completionTokens, String finishReason, String pattern,
                         long nanos) {
    }

    /** The prompt's token ids (chat template applied to messages); 400 when empty or as long as the context. */
    public int[] encode(CompletionRequest req) {
        String text = req.messages() != null ? tokenizer.applyChatTemplate(req.messages(), true) : req.prompt();
        int[] ids = tokenizer.encode(text);
        if (ids.length == 0) throw ApiError.invalid(req.messages() != null ? "messages" : "prompt", "the prompt encodes to no tokens");
        if (ids.length >= context) {
            throw new ApiError(400, "invalid_request_error", req.messages() != null ? "messages" : "prompt",
                    "context_length_exceeded", "the prompt has " + ids.length + " tokens; this model's context is "
                    + context + " tokens");
        }
        return ids;
    }

    /**
     * Generates for an encoded prompt with the pattern {@code task} (null: matched, or the fixed mask).
     * {@code onText} gets each new piece of text and returns false to stop (the client went away).
     */
    public Result complete(CompletionRequest req, int[] prompt, String task, Predicate<String> onText) {
        queue.lock();
        try {
            long t0 = System.nanoTime();
            ExpertRouting.Choice choice = routing.choose(task, prompt);
            int max = Math.min(req.maxTokens(), context - prompt.length);
            List<Integer> generated = new ArrayList<>();
            int holdBack = req.stop().stream().mapToInt(String::length).max().orElse(1) - 1;
            StringBuilder sent = new StringBuilder();
            boolean[] stopString = {false};
            String[] finalText = {""};
            Generator.Result r = new Generator(model, choice.mask()).generate(prompt, max,
                    new Sampler(req.temperature(), req.topP(), req.seed()), tokenizer.eosIds(), token -> {
                        generated.add(token);
                        String text = tokenizer.decode(generated.stream().mapToInt(Integer::intValue).toArray(), true);
                        if (text.endsWith("\uFFFD")) return true;
                        int cut = firstStop(text, req.stop());
                        if (cut >= 0) {
                            stopString[0] = true;
                            text = text.substring(0, cut);
                        }
                        finalText[0] = text;
                        int ready = cut >= 0 ? text.length() : Math.max(sent.length(), text.length() - holdBack);
                        boolean more = true;
                        if (ready > sent.length()) {
                            more = onText.test(text.substring(sent.length(), ready));
                            sent.setLength(0);
                            sent.append(text, 0, ready);
                        }
                        return more && cut < 0;
                    });
            String text = stopString[0] ? finalText[0]
                    : tokenizer.decode(generated.stream().mapToInt(Integer::intValue).toArray(), true);
            if (text.length() > sent.length()) onText.test(text.substring(sent.length()));
            boolean eos = r.tokens().length > 0 && tokenizer.eosIds().contains(r.tokens()[r.tokens().length - 1]);
            return new Result(text, prompt.length, r.tokens().length, stopString[0] || eos ? "stop" : "length",
                    choice.task(), System.nanoTime() - t0);
        } finally {
            queue.unlock();
        }
    }

    /**
     * Waits until the request being generated and those queued before this call have finished (at most
     * {@code timeout}), then holds the queue so no new generation starts: what SIGTERM does before the server stops.
     */
    public boolean drain(java.time.Duration timeout) throws InterruptedException {
        return queue.tryLock(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    private static int firstStop(String text, List<String> stops) {
        int best = -1;
        for (String s : stops) {
            int i = text.indexOf(s);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }
}
