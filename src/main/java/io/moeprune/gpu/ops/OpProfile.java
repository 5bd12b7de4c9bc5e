package io.moeprune.gpu.ops;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where a stream's time went, operation by operation ({@link ProfiledOps}: the compute stream's, or the download
 * stream's copies): per name the calls, their total
 * and mean time, and their share of the stream's time from the first operation's start to the last one's end; and
 * the stream's idle gaps, the time from one operation's end to the next one's start (the host late to queue: a
 * waiting download such as routing's expertStart, host work between two launches), as a line of their own. The
 * rows and the gaps add up to the stream's time. The gaps are also told by the operation they follow (the gap after a
 * waiting download is the host's time to queue what comes next).
 *
 * @param ops           per name, sorted by total time (longest first)
 * @param gapsAfter     the idle gaps per name of the operation before them, sorted by total time
 * @param gapSeconds    the idle gaps between consecutive operations, in all
 * @param gaps          how many gaps (operations − 1)
 * @param streamSeconds from the first operation's start to the last one's end
 */
public record OpProfile(List<Op> ops, List<Op> gapsAfter, double gapSeconds, int gaps, double streamSeconds) {
    /** Lines of {@link #gapsAfter} in the table: the longest. */
    private static final int GAP_LINES = 5;

    /** One name's operations: how many, and their time in all. */
    public record Op(String name, int calls, double seconds) {
    }

    /** Reads marks into seconds: {@link DeviceOps#elapsedSeconds}. */
    interface Elapsed {
        double seconds(long from, long to);
    }

    /** The profile of operations {@code names[i]} from mark {@code from[i]} to {@code to[i]}, in stream order. */
    static OpProfile of(List<String> names, long[] from, long[] to, Elapsed elapsed) {
        Map<String, double[]> byName = new LinkedHashMap<>(), gapsByName = new LinkedHashMap<>();   // {calls, s}
        double gap = 0;
        for (int i = 0; i < from.length; i++) {
            add(byName, names.get(i), elapsed.seconds(from[i], to[i]));
            if (i == 0) continue;
            double idle = elapsed.seconds(to[i - 1], from[i]);
            add(gapsByName, names.get(i - 1), idle);
            gap += idle;
        }
        double stream = from.length == 0 ? 0 : elapsed.seconds(from[0], to[from.length - 1]);
        return new OpProfile(sorted(byName), sorted(gapsByName), gap, Math.max(0, from.length - 1), stream);
    }

    private static void add(Map<String, double[]> byName, String name, double seconds) {
        double[] op = byName.computeIfAbsent(name, n -> new double[2]);
        op[0]++;
        op[1] += seconds;
    }

    private static List<Op> sorted(Map<String, double[]> byName) {
        List<Op> ops = new ArrayList<>();
        byName.forEach((name, op) -> ops.add(new Op(name, (int) op[0], op[1])));
        ops.sort(Comparator.comparingDouble(Op::seconds).reversed());
        return List.copyOf(ops);
    }

    /** Calls of {@code name} (0 when none). */
    public int calls(String name) {
        return ops.stream().filter(o -> o.name.equals(name)).mapToInt(Op::calls).sum();
    }

    /** Seconds of {@code name} (0 when none). */
    public double seconds(String name) {
        return ops.stream().filter(o -> o.name.equals(name)).mapToDouble(Op::seconds).sum();
    }

    /**
     * The table: name, calls, total ms, mean µs, share of the stream's time; then the idle gaps, the longest of them
     * by the operation they follow, and the stream.
     */
    public String table() {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-34s %7s %10s %10s %7s%n", "operation",
                "calls", "ms", "mean µs", "share"));
        for (Op o : ops) sb.append(line(o.name, o.calls, o.seconds));
        sb.append(line("idle gaps (between operations)", gaps, gapSeconds));
        for (Op o : gapsAfter.subList(0, Math.min(GAP_LINES, gapsAfter.size()))) {
            sb.append(line("  idle after " + o.name, o.calls, o.seconds));
        }
        return sb.append(String.format(Locale.ROOT, "%-34s %7s %10.2f %10s %6.1f%%%n",
                "stream (first start to last end)", "", streamSeconds * 1e3, "", streamSeconds > 0 ? 100.0 : 0))
                .toString();
    }

    private String line(String name, int calls, double seconds) {
        return String.format(Locale.ROOT, "%-34s %7d %10.2f %10.1f %6.1f%%%n", name, calls, seconds * 1e3,
                calls == 0 ? 0 : seconds * 1e6 / calls, streamSeconds > 0 ? 100 * seconds / streamSeconds : 0);
    }
}
