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

    /**
     * The text for /metrics; {@code batch}: the scheduler's decode steps and the sequences they advanced; {@code experts}:
     * the resident experts (null without); {@code matching}: prompts matched to a pattern and the time it took.
     */
    String prometheus(BatchScheduler.Counts batch, ExpertMemory.Stats experts, ExpertRouting.MatchCounts matching) {
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
        counter(sb, "moeprune_pattern_matches_total", "Prompts matched to a stored pattern.", matching.matches());
        seconds(sb, "moeprune_pattern_match_seconds_total", "Time spent matching prompts to patterns.", matching.nanos());
        if (experts != null) {
            gauge(sb, "moeprune_expert_memory_budget_bytes", "Bytes of resident experts allowed (--expert-memory).", experts.budget());
            gauge(sb, "moeprune_resident_expert_bytes", "Bytes of expert weights copied into resident memory.", experts.residentBytes());
            gauge(sb, "moeprune_resident_experts", "Experts (layer, expert) resident.", experts.residentExperts());
            counter(sb, "moeprune_experts_brought_in_total", "Experts copied into resident memory.", experts.broughtIn());
            counter(sb, "moeprune_experts_evicted_total", "Experts evicted from resident memory (least recently used).", experts.evicted());
            counter(sb, "moeprune_expert_bring_ins_total", "Admissions that brought experts in (a pattern's missing experts).",
                    experts.bringIns());
            seconds(sb, "moeprune_expert_bring_in_seconds_total", "Time spent bringing patterns' experts in (copies and evictions).",
                    experts.bringInNanos());
        }
        return sb.toString();
    }

    private static void gauge(StringBuilder sb, String name, String help, long value) {
        sb.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" gauge\n")
                .append(name).append(' ').append(value).append('\n');
    }

    private static void seconds(StringBuilder sb, String name, String help, long nanos) {
        sb.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" counter\n")
                .append(String.format(Locale.ROOT, "%s %.6f%n", name, nanos / 1e9));
    }

    private static void counter(StringBuilder sb, String name, String help, long value) {
        sb.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" counter\n")
                .append(name).append(' ').append(value).append('\n');
    }
}
