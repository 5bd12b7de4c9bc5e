package io.moeprune.gpu.runtime;

import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.PrefillPass;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.select.Budget;
import io.moeprune.select.ExpertSelector;
import io.moeprune.select.Method;

import io.moeprune.io.DocumentForms;
import io.moeprune.io.Documents;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU pass against the CPU's {@link LayerMajorPass} on the same model and sequences: logits, expert choices
 * (near ties counted), calibration statistics and the masks selected from them. Shared by the CI test (HostOps as the
 * device) and the GPU machine's test (CudaOps).
 */
public final class PassComparison {
    /** Two router logits of a token closer than this make a near tie, where a BF16 product may choose the other. */
    public static final double NEAR_TIE = 1e-3;
    /** A token's router logits moved by at most this share of their spread (max − min) between the runs. */
    public static final double MOVED = 0.02;

    /**
     * Statistics set by an argmax or a max over tokens: {@code max_g_norm} is one token's value, and
     * {@code premoe_top1_logit} gives a token's whole raw logit to its top-1 expert, so a near tie between its first
     * two experts (which leaves the chosen set, and so every sum, alone) moves it from one expert to another. Under
     * BF16 products they move by more than the sums (on HostOps, ds3 over 32 medical demonstrations: 5.1 % and 1.4 %
     * against ≤ 0.29 % for every sum); the comparison reports them, {@link Result#sumStatError} leaves them out.
     */
    public static final java.util.Set<String> ARGMAX_STATISTICS =
            java.util.Set.of(Statistic.MAX_G_NORM.key(), Statistic.PREMOE_TOP1_LOGIT.key());

    /**
     * The limit of {@link #ARGMAX_STATISTICS} (relative L2 over a layer's experts), where the sums are held to the
     * logits' bound. A token whose first two router logits swap at a near tie (the chosen set, so every sum, unchanged:
     * {@link Result#top1Reorders}) moves its whole top-1 logit z from one expert to another, √2·z/‖stat‖: with the
     * fixtures' 32 tokens a layer, one such token is several percent. Measured (2026-12-07): mixtral on the H100
     * 3.1 % with no swapped routing; on HostOps mixtral's layer 1 0.1-0.7 % without a reorder and 9.2 % with two
     * (margins 4e-4), deepseek_v2 14.8 % with one; max_g_norm (one token's g·‖e‖, no averaging) up to 2.5 % on the
     * fixtures and 6.0 % on moe-tiny-7d-ds3 (32 medical demonstrations). 0.2: a few tokens' values, far below what a
     * wrong expert's or token's value would move.
     */
    public static final double ARGMAX_LIMIT = 0.2;

    /**
     * @param logitError  the largest ‖gpu − cpu‖ / ‖cpu‖ of a sequence's logits [n, vocab] before its first swap
     * @param excused     tokens whose logits were not compared: at or after their sequence's first swapped routing
     * @param tokens      (token, MoE layer) routings compared
     * @param nearTies    of them, those choosing differently at a near tie ({@link #NEAR_TIE})
     * @param withinError those choosing differently, not at a near tie, where the swapped experts' logits are closer
     *                    than twice the token's logits moved between the runs, or the logits moved by at most
     *                    {@link #MOVED} of their spread: BF16 activations upstream moved them across a boundary of the
     *                    routing (with selection biases and expert groups the boundary is not between two logits:
     *                    DeepSeek-V3's sigmoid scores plus bias, its group scores)
     * @param differing   those choosing differently otherwise (should be 0)
     * @param downstream  those choosing differently at or after a token of their sequence that swapped in an earlier
     *                    layer (whose output then differs outright: not a comparison of the two runtimes any more)
     * @param statError   the largest relative L2 error of a calibration statistic's [layer, expert] sums
     * @param masksEqual  whether EASY-EP and frequency masks (half the experts per layer) from both statistics agree
     * @param statErrors  each statistic's largest relative L2 error over the layers (statError is their largest), by
     *                    its key: which statistics swaps move most
     * @param maskSwaps   how many experts the masks keep on one side only, over both methods and every layer, halved
     *                    (one expert in for one out counts 1)
     * @param top1Reorders routings with the same chosen experts whose largest router logit is another expert's in the
     *                    two runs (what moves {@code premoe_top1_logit} by a whole token's logit)
     * @param swaps       each of the mask swaps: where, which experts, how close the CPU's selection was there
     */
    public record Result(double logitError, int excused, long tokens, int nearTies, int withinError, int differing,
                         int downstream, double statError, boolean masksEqual, Map<String, Double> statErrors,
                         int maskSwaps, int top1Reorders, List<MaskSwap> swaps) {
        /**
         * The largest error of the statistics that sum a smooth contribution of every token over its chosen experts:
         * all but {@link #ARGMAX_STATISTICS}.
         */
        public double sumStatError() {
            return PassComparison.sumStatError(statErrors);
        }

        /** The largest error of {@link #ARGMAX_STATISTICS}. */
        public double argmaxStatError() {
            double worst = 0;
            for (String key : ARGMAX_STATISTICS) worst = Math.max(worst, statErrors.getOrDefault(key, 0.0));
            return worst;
        }
        /** Whether both runs chose the same experts for every token. */
        public boolean sameChoices() {
            return nearTies + withinError + differing + downstream == 0;
        }
    }

    /**
     * One expert a mask keeps from the CPU's statistics only ({@code cpuKept}) for one it keeps from the device's only
     * ({@code deviceKept}), in a layer, with both experts' scores on each side. {@code gap}: on the CPU's scores of the
     * layer, (last kept − first dropped) / last kept, how close the CPU's own selection was to a tie; {@code
     * scoreError}: the relative L2 error of the layer's scores (device against CPU). A gap below the error is a swap
     * the device's precision may make; one well above it is not.
     */
    public record MaskSwap(Method method, int layer, int cpuKept, int deviceKept, double cpuScoreOfCpuKept,
                           double cpuScoreOfDeviceKept, double deviceScoreOfCpuKept, double deviceScoreOfDeviceKept,
                           double gap, double scoreError) {
        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%s layer %d: expert %d (CPU %.6g, device %.6g) dropped for %d "
                            + "(CPU %.6g, device %.6g), gap %.4f %% against a score error of %.4f %%", method.cliName(),
                    layer, cpuKept, cpuScoreOfCpuKept, deviceScoreOfCpuKept, deviceKept, cpuScoreOfDeviceKept,
                    deviceScoreOfDeviceKept, 100 * gap, 100 * scoreError);
        }
    }

    /** What a run saw: every sequence's logits and each (sequence, layer)'s chosen experts and router logits. */
    private record Seen(float[][] logits, Map<String, int[]> chosen, Map<String, float[]> routerLogits) {
    }

    private PassComparison() {
    }

    /** Compares the pass of {@code gpu} with the CPU's on {@code seqs}, including a calibration of each. */
    public static Result compare(Model model, List<int[]> seqs, PrefillPasses.Factory gpu) {
        return compare(model, seqs, gpu, ExpertMask.NONE);
    }

    /** The same with both passes routing around the experts {@code mask} removes (calibration runs unmasked). */
    public static Result compare(Model model, List<int[]> seqs, PrefillPasses.Factory gpu, ExpertMask mask) {
        Routings r = routings(model, seqs, PrefillPasses.CPU, gpu, mask);
        Statistics st = statistics(model, seqs, calibrate(model, seqs, null), gpu);
        return new Result(r.logitError, r.excused, r.tokens, r.nearTies, r.withinError, r.differing, r.downstream,
                st.statError(), st.masksEqual(), st.statErrors(), st.swaps().size(), r.top1Reorders, st.swaps());
    }

    /**
     * The calibration statistics of two runs compared: the largest relative error of a statistic over the layers,
     * each statistic's, whether the EASY-EP and frequency masks (half the experts per layer) agree and their swaps.
     */
    public record Statistics(double statError, Map<String, Double> statErrors, boolean masksEqual,
                             List<MaskSwap> swaps) {
        /** As {@link Result#sumStatError}. */
        public double sumStatError() {
            return PassComparison.sumStatError(statErrors);
        }
    }

    /** The largest of {@code statErrors} (by statistic key) but {@link #ARGMAX_STATISTICS}. */
    static double sumStatError(Map<String, Double> statErrors) {
        double worst = 0;
        for (Map.Entry<String, Double> e : statErrors.entrySet()) {
            if (!ARGMAX_STATISTICS.contains(e.getKey())) worst = Math.max(worst, e.getValue());
        }
        return worst;
    }

    /** A calibration of {@code seqs} on the CPU ({@code device} null) or the pass of {@code device}. */
    public static ExpertStats calibrate(Model model, List<int[]> seqs, PrefillPasses.Factory device) {
        List<String> names = seqs.stream().map(Arrays::toString).toList();
        if (device == null) return new Calibrator(model).run(seqs, names, "f", "d", n -> { });
        PrefillPasses.use(device, "test device");
        try {
            return new Calibrator(model).run(seqs, names, "f", "d", n -> { });
        } finally {
            PrefillPasses.reset();
        }
    }

    /** The CPU's statistics {@code cpuStats} of {@code seqs} against a calibration on {@code gpu}. */
    public static Statistics statistics(Model model, List<int[]> seqs, ExpertStats cpuStats,
                                        PrefillPasses.Factory gpu) {
        ExpertStats devStats = calibrate(model, seqs, gpu);
        int k = model.spec().moe().topK(), e = model.spec().moe().numExperts();
        double statError = 0;
        Map<String, Double> statErrors = new java.util.LinkedHashMap<>();
        for (Statistic stat : Statistic.values()) {
            double[][] a = cpuStats.aggregate(stat), b = devStats.aggregate(stat);
            double worst = 0;
            for (int l = 0; l < a.length; l++) worst = Math.max(worst, relativeError(b[l], a[l]));
            statErrors.put(stat.key(), worst);
            statError = Math.max(statError, worst);
        }
        boolean masksEqual = true;
        List<MaskSwap> swaps = new ArrayList<>();
        for (Method m : new Method[]{Method.EASYEP, Method.FREQUENCY}) {
            double[][] sa = m.scores(cpuStats, 0), sb = m.scores(devStats, 0);
            int[][] ma = ExpertSelector.select(sa, Budget.perLayer(e / 2), k);
            int[][] mb = ExpertSelector.select(sb, Budget.perLayer(e / 2), k);
            masksEqual &= Arrays.deepEquals(ma, mb);
            for (int l = 0; l < ma.length; l++) swaps.addAll(maskSwaps(m, model.spec().moeLayers().get(l), sa[l], sb[l],
                    ma[l], mb[l]));
        }
        return new Statistics(statError, statErrors, masksEqual, swaps);
    }

    /**
     * The swaps between the kept sets {@code a} (from the CPU's scores {@code sa}) and {@code b} (the device's, {@code
     * sb}) of one layer: the experts kept on one side only, paired in order of their CPU scores.
     */
    static List<MaskSwap> maskSwaps(Method m, int layer, double[] sa, double[] sb, int[] a, int[] b) {
        java.util.Set<Integer> inA = new java.util.HashSet<>(), inB = new java.util.HashSet<>();
        for (int x : a) inA.add(x);
        for (int x : b) inB.add(x);
        java.util.Comparator<Integer> byCpuScore = java.util.Comparator.comparingDouble(x -> sa[x]);
        List<Integer> cpuOnly = inA.stream().filter(x -> !inB.contains(x)).sorted(byCpuScore).toList();
        List<Integer> devOnly = inB.stream().filter(x -> !inA.contains(x)).sorted(byCpuScore.reversed()).toList();
        double gap = gap(sa, a);
        double error = relativeError(sb, sa);
        List<MaskSwap> swaps = new ArrayList<>();
        for (int i = 0; i < Math.min(cpuOnly.size(), devOnly.size()); i++) {
            int x = cpuOnly.get(i), y = devOnly.get(i);
            swaps.add(new MaskSwap(m, layer, x, y, sa[x], sa[y], sb[x], sb[y], gap, error));
        }
        return swaps;
    }

    private static int argmax(float[] z, int off, int e) {
        int best = 0;
        for (int i = 1; i < e; i++) if (z[off + i] > z[off + best]) best = i;
        return best;
    }

    /**
     * Logits and expert choices of two passes, as {@link #compare} compares the CPU's and a device's: two device runs
     * (a bound that runs in chunks against one that does not) whose products sum in other orders, where a routing at a
     * near tie may swap and change its token's output (and through attention its sequence's later tokens) outright.
     * The statistics are left out (0, masks equal).
     */
    public static Result compareRuns(Model model, List<int[]> seqs, PrefillPasses.Factory reference,
                                     PrefillPasses.Factory other) {
        Routings r = routings(model, seqs, reference, other, ExpertMask.NONE);
        return new Result(r.logitError, r.excused, r.tokens, r.nearTies, r.withinError, r.differing, r.downstream, 0,
                true, Map.of(), 0, r.top1Reorders, List.of());
    }

    /** What {@link #routings} finds (the fields of {@link Result} of the same names). */
    private record Routings(double logitError, int excused, long tokens, int nearTies, int withinError,
                            int differing, int downstream, int top1Reorders) {
    }

    /** The logits and expert choices of {@code other} against {@code reference}'s on {@code seqs}. */
    private static Routings routings(Model model, List<int[]> seqs, PrefillPasses.Factory reference,
                                     PrefillPasses.Factory other, ExpertMask mask) {
        Seen cpu = run(reference.create(model, mask, LayerMajorPass.Logits.ALL), seqs);
        Seen dev = run(other.create(model, mask, LayerMajorPass.Logits.ALL), seqs);
        int k = model.spec().moe().topK(), e = model.spec().moe().numExperts(), vocab = model.spec().vocabSize();
        long tokens = 0;
        int nearTies = 0, withinError = 0, differing = 0, downstream = 0, top1Reorders = 0;
        int[] firstSwap = new int[seqs.size()];
        for (int s = 0; s < seqs.size(); s++) firstSwap[s] = seqs.get(s).length;
        for (int s = 0; s < seqs.size(); s++) {
            // Layers in order: a swap at a token at or after one in an earlier layer is that swap's consequence.
            int swappedBefore = Integer.MAX_VALUE;
            for (int layer : model.spec().moeLayers()) {
                String key = s + "/" + layer;
                int[] mine = dev.chosen().get(key), theirs = cpu.chosen().get(key);
                if (theirs == null) continue;
                float[] z = cpu.routerLogits().get(key), zDev = dev.routerLogits().get(key);
                int swappedHere = Integer.MAX_VALUE;
                for (int t = 0; t < theirs.length / k; t++) {
                    tokens++;
                    int[] a = sorted(theirs, t * k, k), b = sorted(mine, t * k, k);
                    if (Arrays.equals(a, b)) {
                        if (argmax(z, t * e, e) != argmax(zDev, t * e, e)) top1Reorders++;
                        continue;
                    }
                    swappedHere = Math.min(swappedHere, t);
                    firstSwap[s] = Math.min(firstSwap[s], t);
                    if (t >= swappedBefore) downstream++;
                    else if (closeSwap(a, b, z, t * e, NEAR_TIE)) nearTies++;
                    else if (closeSwap(a, b, z, t * e, 2 * moved(z, zDev, t * e, e)) || moved(z, zDev, t * e, e)
                            <= MOVED * spread(z, t * e, e)) withinError++;
                    else differing++;
                }
                swappedBefore = Math.min(swappedBefore, swappedHere);
            }
        }
        // A swapped expert changes its token's output outright, and through attention every later token's: the
        // logits are compared up to each sequence's first swap (the swaps are counted and bounded above).
        double logitError = 0;
        int excused = 0;
        for (int s = 0; s < seqs.size(); s++) {
            int n = seqs.get(s).length, upTo = firstSwap[s];
            excused += n - upTo;
            if (upTo == 0) continue;
            float[] a = Arrays.copyOf(dev.logits()[s], upTo * vocab), b = Arrays.copyOf(cpu.logits()[s], upTo * vocab);
            logitError = Math.max(logitError, relativeError(a, b));
        }
        return new Routings(logitError, excused, tokens, nearTies, withinError, differing, downstream, top1Reorders);
    }

    private static Seen run(PrefillPass pass, List<int[]> seqs) {
        float[][] logits = new float[seqs.size()][];
        Map<String, int[]> chosen = new HashMap<>();
        Map<String, float[]> z = new HashMap<>();
        IntFunction<MoeObserver> observers = s -> t -> {
            chosen.put(s + "/" + t.layer(), t.chosen().clone());
            z.put(s + "/" + t.layer(), t.routerLogits().clone());
        };
        pass.run(seqs, observers, (s, l) -> logits[s] = l, LayerMajorListener.NONE);
        return new Seen(logits, chosen, z);
    }

    /** The largest difference between the two runs' logits of a token. */
    private static double moved(float[] z, float[] zDev, int off, int e) {
        double m = 0;
        for (int i = 0; i < e; i++) m = Math.max(m, Math.abs(z[off + i] - zDev[off + i]));
        return m;
    }

    private static double spread(float[] z, int off, int e) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < e; i++) {
            lo = Math.min(lo, z[off + i]);
            hi = Math.max(hi, z[off + i]);
        }
        return hi - lo;
    }

    /** Whether an expert chosen by one run only is within {@code gap} (CPU logits) of one chosen by the other only. */
    private static boolean closeSwap(int[] a, int[] b, float[] z, int off, double gap) {
        for (int x : a) {
            if (Arrays.binarySearch(b, x) >= 0) continue;
            for (int y : b) {
                if (Arrays.binarySearch(a, y) < 0 && Math.abs(z[off + x] - z[off + y]) < gap) return true;
            }
        }
        return false;
    }

    private static int[] sorted(int[] ids, int from, int k) {
        int[] s = Arrays.copyOfRange(ids, from, from + k);
        Arrays.sort(s);
        return s;
    }

    public static double relativeError(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < b.length; i++) {
            double d = a[i] - b[i];
            num += d * d;
            den += (double) b[i] * b[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    private static double relativeError(double[] a, double[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < b.length; i++) {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += b[i] * b[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    /**
     * The bounds of a comparison: logits within {@code bound}, every swapped routing near a tie, and without swaps the
     * summed statistics within {@code bound} and the masks identical; the statistics set by one token
     * ({@link #ARGMAX_STATISTICS}) within {@link #ARGMAX_LIMIT} (printed). {@code bound} is 1e-2 on the trained shared
     * models and 3e-2 on the random-weight fixtures, whose BF16 rounding (0.2-0.5 % after the first layer) grows
     * faster through random layers (up to 2.0 %: deepseek_v2, before any swap).
     */
    public static void assertBounds(String what, PassComparison.Result r, double bound) {
        assertTrue(r.logitError() < bound, what + " logits " + r);
        assertEquals(0, r.differing(), what + " expert choices " + r);
        System.out.printf("%s: statistics set by one token %.4f (%d top-1 reorders), summed ones %.4f%n", what,
                r.argmaxStatError(), r.top1Reorders(), r.sumStatError());
        assertTrue(r.argmaxStatError() < ARGMAX_LIMIT, what + " statistics set by one token " + r);
        if (r.sameChoices()) {
            assertTrue(r.sumStatError() < bound, what + " statistics " + r);
            assertTrue(r.masksEqual(), what + " masks " + r);
        } else {
            assertTrue(r.statError() < 0.2, what + " statistics " + r);
        }
    }

    /** Random token sequences of the given lengths (a fixed seed). */
    public static List<int[]> randomSequences(int vocab, int... lengths) {
        Random r = new Random(22);
        List<int[]> seqs = new ArrayList<>();
        for (int n : lengths) seqs.add(r.ints(n, 0, vocab).toArray());
        return seqs;
    }

    /** The first {@code count} documents of a JSONL file, tokenised by the model's tokenizer, at most {@code max} tokens. */
    public static List<int[]> documentSequences(Path modelDir, Path jsonl, int count, int max) throws IOException {
        Tokenizer tok = Tokenizers.load(modelDir);
        List<int[]> seqs = new ArrayList<>();
        List<String> texts = Documents.read(jsonl, DocumentForms.of(null, null));
        for (String t : texts.subList(0, Math.min(count, texts.size()))) {
            int[] ids = tok.encode(t);
            seqs.add(Arrays.copyOf(ids, Math.min(ids.length, max)));
        }
        return seqs;
    }

    /**
     * Paragraphs of this repository's Markdown pages (README.md, docs/*.md: they travel with the working tree to the
     * GPU machine), tokenised, of at least 16 and at most {@code max} tokens each, {@code count} of them.
     */
    public static List<int[]> markdownSequences(Path modelDir, int count, int max) throws IOException {
        Tokenizer tok = Tokenizers.load(modelDir);
        List<Path> pages = new ArrayList<>(List.of(Path.of("README.md")));
        try (var docs = Files.list(Path.of("docs"))) {
            docs.filter(p -> p.toString().endsWith(".md")).sorted().forEach(pages::add);
        }
        List<int[]> seqs = new ArrayList<>();
        for (Path page : pages) {
            for (String paragraph : Files.readString(page).split("\n\\s*\n")) {
                int[] ids = tok.encode(paragraph);
                if (ids.length >= 16) seqs.add(Arrays.copyOf(ids, Math.min(ids.length, max)));
                if (seqs.size() == count) return seqs;
            }
        }
        return seqs;
    }

    /** The pass factory of a device. */
    public static PrefillPasses.Factory on(DeviceOps ops, long bound) {
        return (model, mask, logits) -> new GpuLayerMajorPass(model, mask, logits, ops, bound);
    }

    /**
     * A hash of a pass's logits (every row) and slot norms (every MoE layer, sequences in order) on {@code seqs}: two
     * settings of a switch that must not change a bit hash the same.
     */
    public static String hash(GpuLayerMajorPass pass, List<int[]> seqs) {
        return hash(pass, seqs, false);
    }

    /**
     * {@link #hash} with every trace's turns and the residual entering its block (x of every MoE layer) hashed too:
     * for a switch that computes those another way.
     */
    public static String traceHash(GpuLayerMajorPass pass, List<int[]> seqs) {
        return hash(pass, seqs, true);
    }

    private static String hash(GpuLayerMajorPass pass, List<int[]> seqs, boolean wholeTraces) {
        float[][] logits = new float[seqs.size()][];
        Map<String, float[]> norms = new java.util.TreeMap<>();
        pass.run(seqs, s -> t -> {
            norms.put(s + "/" + t.layer(), t.slotNorms().clone());
            if (wholeTraces) {
                norms.put(s + "/" + t.layer() + "/turns", t.turns().clone());
                norms.put(s + "/" + t.layer() + "/residual", t.residualIn().clone());
            }
        }, (s, l) -> logits[s] = l, LayerMajorListener.NONE);
        long h = 17;
        for (float[] l : logits) if (l != null) for (float v : l) h = h * 1_000_003L + Float.floatToRawIntBits(v);
        for (float[] l : norms.values()) for (float v : l) h = h * 1_000_003L + Float.floatToRawIntBits(v);
        return Long.toHexString(h);
    }

    /** A check of a conformance fixture on HostOps: its model, the device, the fixtures' ragged random sequences. */
    public interface FixtureCheck {
        void run(Model model, HostOps ops, List<int[]> seqs);
    }

    /** Runs {@code check} on the conformance fixture {@code fixture}, a 1 GiB HostOps device and 5 ragged sequences. */
    public static void onFixture(String fixture, FixtureCheck check) {
        try (Model model = io.moeprune.runtime.Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture));
             HostOps ops = new HostOps(1L << 30)) {
            check.run(model, ops, randomSequences(model.spec().vocabSize(), 9, 1, 0, 17, 5));
        }
    }

    /**
     * Runs {@code check} on the test bed's moe-tiny-7d, a HostOps device of 1 GiB and 3 medical demonstrations of up
     * to 40 tokens; skips (with the reason) without ../shared.
     */
    public static void onSharedQwen3Model(FixtureCheck check) throws IOException {
        Path dir = GpuLayerMajorPassTest.SHARED.resolve("moe-tiny-7d");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(dir)
                && Files.isDirectory(GpuLayerMajorPassTest.DATA), "shared test bed absent: " + dir);
        try (Model model = io.moeprune.runtime.Models.open(dir); HostOps ops = new HostOps(1L << 30)) {
            check.run(model, ops,
                    documentSequences(dir, GpuLayerMajorPassTest.DATA.resolve("medical.dev.jsonl"), 3, 40));
        }
    }

    /**
     * How close a layer's selection {@code kept} from {@code scores} is to a tie: (last kept − first dropped) / last
     * kept, relative (0 where the last kept scores 0).
     */
    public static double gap(double[] scores, int[] kept) {
        java.util.Set<Integer> in = new java.util.HashSet<>();
        for (int x : kept) in.add(x);
        double lastKept = Double.POSITIVE_INFINITY, firstDropped = Double.NEGATIVE_INFINITY;
        for (int x = 0; x < scores.length; x++) {
            if (in.contains(x)) lastKept = Math.min(lastKept, scores[x]);
            else firstDropped = Math.max(firstDropped, scores[x]);
        }
        return lastKept == 0 ? 0 : (lastKept - firstDropped) / Math.abs(lastKept);
    }
}
