package io.moeprune.serve;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/** Counters of the server, rendered in the Prometheus text exposition format for /metrics. */
public final class Metrics {
    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> patterns = new ConcurrentHashMap<>();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder completionTokens = new LongAdder();
    private final LongAdder generationNanos = new LongAdder();

    public void request(String endpoint, int status) {
        requests.computeIfAbsent("endpoint=\"" + endpoint + "\",status=\"" + status + "\"", k -> new LongAdder()).increment();
    }

    public void completion(int prompt, int completion, long nanos, String pattern) {
        promptTokens.add(prompt);
        completionTokens.add(completion);
        generationNanos.add(nanos);
        if (pattern != null) patterns.computeIfAbsent(pattern, k -> new LongAdder()).increment();
    }

    /** The text for /metrics; {@code batch}: the scheduler's decode steps and the sequences they advanced. */
    String prometheus(BatchScheduler.Counts batch) {
        StringBuilder sb = new StringBuilder();
        sb.append("# HELP moeprune_requests_total HTTP requests by endpoint and status.\n# TYPE moeprune_requests_total counter\n");
        requests.forEach((k, v) -> sb.append("moeprune_requests_total{").append(k).append("} ").append(v.sum()).append('\n'));
        counter(sb, "moeprune_prompt_tokens_total", "Prompt tokens processed.", promptTokens.sum());
        counter(sb, "moeprune_completion_tokens_total", "Tokens generated.", completionTokens.sum());
        sb.append("# HELP moeprune_generation_seconds_total Time spent generating.\n# TYPE moeprune_generation_seconds_total counter\n")
                .append(String.format(Locale.ROOT, "moeprune_generation_seconds_total %.6f%n", generationNanos.sum() / 1e9));
        sb.append("# HELP moeprune_pattern_requests_total Requests served with each stored pattern.\n"
                + "# TYPE moeprune_pattern_requests_total counter\n");
        patterns.forEach((k, v) -> sb.append("moeprune_pattern_requests_total{pattern=\"").append(k).append("\"} ")
                .append(v.sum()).append('\n'));
        counter(sb, "moeprune_decode_steps_total", "Decode steps (one forward pass each, batched or not).", batch.steps());
        counter(sb, "moeprune_decode_sequence_steps_total",
                "Sequences advanced by decode steps (divided by the steps: the mean batch size).", batch.sequences());
        sb.append("# HELP moeprune_requests_in_flight Completions queued or being generated.\n"
                + "# TYPE moeprune_requests_in_flight gauge\nmoeprune_requests_in_flight ").append(batch.inFlight()).append('\n');
        return sb.toString();
    }

    private static void counter(StringBuilder sb, String name, String help, long value) {
        sb.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" counter\n")
                .append(name).append(' ').append(value).append('\n');
    }
}
