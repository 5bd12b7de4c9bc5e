package io.moeprune.serve;

import io.moeprune.gpu.runtime.GpuGeneration;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Sampler;
import io.moeprune.tokenizer.Tokenizer;

import java.util.function.Predicate;

/**
 * Runs completions on the CPU runtime or a GPU ({@link #onDevice}), concurrent requests batched by a
 * {@link BatchScheduler} (continuous batching; at most {@code maxBatch} decoding at once, the rest wait in arrival
 * order). Text is handed out as it is
 * decoded ({@link TextStream}), never inside a multi-byte character and never the start of a stop string.
 */
public final class CompletionEngine implements AutoCloseable {
    /** Sequences decoded together at most, unless the server says otherwise (serve --max-batch). */
    public static final int DEFAULT_MAX_BATCH = 32;
    private final Tokenizer tokenizer;
    private final ExpertRouting routing;
    private final int context;
    private final BatchScheduler scheduler;

    public CompletionEngine(Model model, Tokenizer tokenizer, ExpertRouting routing, int context) {
        this(model, tokenizer, routing, context, DEFAULT_MAX_BATCH);
    }

    public CompletionEngine(Model model, Tokenizer tokenizer, ExpertRouting routing, int context, int maxBatch) {
        this(tokenizer, routing, context, maxBatch, new CpuBackend(model));
    }

    /**
     * Completions on the device of {@code generation} ({@code serve --device cuda}): {@code maxBatch} KV caches of
     * {@code context} positions per expert set in use, the first made now (a server they do not fit is refused here,
     * one line). {@code routing} is to keep no host-resident experts ({@link ExpertRouting#onDevice}).
     */
    public static CompletionEngine onDevice(Model model, Tokenizer tokenizer, ExpertRouting routing, int context,
                                            int maxBatch, GpuGeneration generation) {
        if (routing.memory() != null) throw new IllegalArgumentException("host-resident experts do not apply on the device");
        return new CompletionEngine(tokenizer, routing, context, maxBatch,
                new GpuBackend(model, generation, maxBatch, context, routing.firstMask()));
    }

    private CompletionEngine(Tokenizer tokenizer, ExpertRouting routing, int context, int maxBatch, ServeBackend backend) {
        this.tokenizer = tokenizer;
        this.routing = routing;
        this.context = context;
        this.scheduler = new BatchScheduler(backend, routing, tokenizer.eosIds(), maxBatch);
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
     * Generates for an encoded prompt with the pattern {@code task} (null: matched, or the fixed mask), batched with
     * the other requests in flight. {@code onText} gets each new piece of text (on the calling thread) and returns
     * false to stop (the client went away): the sequence's slot is freed at the next step.
     */
    public Result complete(CompletionRequest req, int[] prompt, String task, Predicate<String> onText) {
        int max = Math.min(req.maxTokens(), context - prompt.length);
        Sequence s = scheduler.submit(new Sequence(prompt, task, max, new Sampler(req.temperature(), req.topP(), req.seed())));
        TextStream text = new TextStream(tokenizer, req.stop());
        boolean done = false;
        Sequence.End end;
        try {
            while (true) {
                Sequence.Event e = s.next();
                if (e instanceof Sequence.End last) {
                    end = last;
                    break;
                }
                if (done) continue;  // tokens decoded before the scheduler saw the cancel
                String piece = text.add(((Sequence.Token) e).id());
                boolean more = piece.isEmpty() || onText.test(piece);
                if (!more || text.stopped()) {
                    done = true;
                    s.cancel();
                }
            }
        } catch (InterruptedException e) {
            s.cancel();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while generating", e);
        }
        if (end.error() != null) throw end.error();
        String rest = text.rest();
        if (!rest.isEmpty()) onText.test(rest);
        boolean eos = text.tokens() > 0 && tokenizer.eosIds().contains(text.lastToken());
        return new Result(text.text(), prompt.length, text.tokens(), text.stopped() || eos ? "stop" : "length",
                end.task(), end.nanos());
    }

    /**
     * 503 (shutting_down) once a drain has begun: checked before a stream's headers are sent, since a refusal inside
     * {@link #complete} could then no longer change the status.
     */
    public void requireAccepting() {
        scheduler.requireAccepting();
    }

    /** The resident experts' counters (null when every expert is served mapped). */
    ExpertMemory.Stats expertStats() {
        return routing.memory() == null ? null : routing.memory().stats();
    }

    /** Decode steps run so far and the sequences they advanced. */
    BatchScheduler.Counts batchCounts() {
        return scheduler.counts();
    }

    /**
     * Refuses new requests (503) and waits (at most {@code timeout}) for those in flight to finish: what SIGTERM does
     * before the server stops. True when all finished in time.
     */
    public boolean drain(java.time.Duration timeout) throws InterruptedException {
        return scheduler.drain(timeout);
    }

    /**
     * Stops the scheduler thread (requests still in it end with an error) and frees the caches, then the resident
     * experts.
     */
    @Override
    public void close() {
        scheduler.close();
        routing.close();
    }
}
