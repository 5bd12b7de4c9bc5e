package io.moeprune.bench;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.Calibrator;
import io.moeprune.gpu.DeviceChoice;
import io.moeprune.gpu.GpuDevice;
import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.runtime.GpuDecoder;
import io.moeprune.gpu.runtime.GpuGeneration;
import io.moeprune.gpu.runtime.GpuLayerMajorPass;
import io.moeprune.gpu.runtime.ResidentModel;
import io.moeprune.model.AttentionSpec;
import io.moeprune.runtime.DecodeSteps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Perplexity;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.runtime.Sampler;
import io.moeprune.runtime.TokenScores;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Supplier;

/**
 * The GPU runtime's figures of issue 22's speed goals, on cuda:0, in one process, for comparison with
 * bench/device/transformers_gpu_bench.py on the same model and batch (bench/device/gpu_vs_transformers.sh prints the
 * ratios): calibration and perplexity prefill tokens/s over {@code --batch} random sequences of {@code --seq} tokens
 * (the layer-major pass over the weights made resident by the first run, {@link ResidentModel}, beside calibration
 * with every layer streamed each run; perplexity scores every position's next token on the device and reads back two numbers a
 * position, as the command does, beside its former path in the same process: every position's logits downloaded and
 * scored on the host), and greedy decode tokens/s after a {@code --prompt}-token prompt: of one sequence through Generator (as
 * {@code generate} runs), and of {@code --decode-batch} sequences stepped at once ({@link GpuDecoder#decodeAllGreedy}),
 * each with its next tokens picked on the device and then, in the same process, from logits downloaded to the host's
 * argmax (the ratio printed). Each: one warm-up (kernels compiled, weights resident), then the median of
 * {@code --runs}. Lines start with "java-gpu" for the script to read.
 *
 * <p>Usage: bench/run gpuSpeed MODEL_DIR [--batch 8] [--seq 2048] [--prompt 128] [--decode 64] [--decode-batch 32] [--runs 3]
 *        [--parts calibrate,streamed,perplexity,download,decode]   (default: all; a large vocabulary's logits download
 *        of 4·vocab bytes a token, or streaming a large model every run, can be left out)
 */
public final class GpuSpeedBench {
    public static void main(String[] args) {
        if (args.length < 1 || args.length % 2 == 0) {
            System.err.println("usage: bench/run gpuSpeed MODEL_DIR [--batch 8] [--seq 2048] [--prompt 128] [--decode 64] [--decode-batch 32] [--runs 3] [--parts calibrate,streamed,perplexity,download,decode]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int batch = 8, seq = 2048, prompt = 128, decode = 64, runs = 3, decodeBatch = 32;
        java.util.Set<String> parts = java.util.Set.of("calibrate", "streamed", "perplexity", "download", "decode");
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (args[i].equals("--parts")) {
                parts = java.util.Set.of(args[i + 1].split(","));
                continue;
            }
            int v = Integer.parseInt(args[i + 1]);
            switch (args[i]) {
                case "--batch" -> batch = v;
                case "--seq" -> seq = v;
                case "--prompt" -> prompt = v;
                case "--decode" -> decode = v;
                case "--runs" -> runs = v;
                case "--decode-batch" -> decodeBatch = v;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        try (Model model = Models.open(dir);
             CudaOps ops = new CudaOps(GpuDevice.open(new DeviceChoice(DeviceChoice.Kind.CUDA, 0), 0));
             ResidentModel resident = new ResidentModel(ops, ops.device().limitBytes());
             GpuGeneration generation = new GpuGeneration(ops, ops.device().limitBytes(), resident)) {
            long limit = ops.device().limitBytes();
            GpuLayerMajorPass[] last = new GpuLayerMajorPass[1];   // its phase profile (-Dmoeprune.gpuPhases=true)
            PrefillPasses.use((m, mask, logits) -> last[0] = new GpuLayerMajorPass(m, mask, logits, ops, limit, resident),
                    generation, "cuda:0");
            System.out.printf(Locale.ROOT, "java-gpu %s: %s, checkpoint %.2f GB, %d layers, %s%n", dir,
                    ops.device().info().describe(), model.checkpointBytes() / 1e9, model.layers().size(),
                    java.time.Instant.now());
            Random r = new Random(7);
            List<int[]> seqs = new ArrayList<>();
            for (int d = 0; d < batch; d++) seqs.add(r.ints(seq, 0, model.spec().vocabSize()).toArray());
            List<String> names = seqs.stream().map(s -> Integer.toString(Arrays.hashCode(s))).toList();
            double tokens = (double) batch * seq;

            Calibrator calibrator = new Calibrator(model);
            if (parts.contains("calibrate")) {
                double calibrate = median(runs, () -> {
                    long t0 = System.nanoTime();
                    calibrator.run(seqs, names, "", "", n -> { });
                    return tokens / ((System.nanoTime() - t0) / 1e9);
                });
                System.out.printf(Locale.ROOT, "java-gpu calibrate %dx%d: %.0f tok/s (weights %s; %d upload)%n", batch,
                        seq, calibrate, resident.uploads() > 0 ? "resident" : "streamed", resident.uploads());
                printPhases("calibrate", last[0]);
            }
            if (parts.contains("streamed")) {
                // The same calibration with every layer streamed each run (the baseline of the resident weights).
                PrefillPasses.use((m, mask, logits) -> last[0] = new GpuLayerMajorPass(m, mask, logits, ops, limit),
                        generation, "cuda:0");
                double streamed = median(runs, () -> {
                    long t0 = System.nanoTime();
                    calibrator.run(seqs, names, "", "", n -> { });
                    return tokens / ((System.nanoTime() - t0) / 1e9);
                });
                System.out.printf(Locale.ROOT, "java-gpu streamed calibrate %dx%d: %.0f tok/s%n", batch, seq, streamed);
                printPhases("streamed calibrate", last[0]);
                PrefillPasses.use((m, mask, logits) -> last[0] = new GpuLayerMajorPass(m, mask, logits, ops, limit, resident),
                        generation, "cuda:0");
            }

            Perplexity perplexity = new Perplexity(model, ExpertMask.NONE);
            if (parts.contains("perplexity")) {
                double ppl = median(runs, () -> {
                    long t0 = System.nanoTime();
                    perplexity.scoreAll(seqs, LayerMajorListener.NONE);
                    return tokens / ((System.nanoTime() - t0) / 1e9);
                });
                AttentionSpec a = model.spec().attention();
                System.out.printf(Locale.ROOT, "java-gpu perplexity %dx%d: %.0f tok/s (attention: %s)%n", batch, seq,
                        ppl, ops.pathFor(seq, a.headDim(), a.valueHeadDim() > 0 ? a.valueHeadDim() : a.headDim())
                                .name().toLowerCase(Locale.ROOT));
                printPhases("perplexity", last[0]);
            }
            if (parts.contains("download")) {
                double downloaded = median(runs, () -> {
                    long t0 = System.nanoTime();
                    PrefillPasses.create(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL).run(seqs, null,
                            (s, logits) -> TokenScores.of(logits, seqs.get(s), 0), LayerMajorListener.NONE);
                    return tokens / ((System.nanoTime() - t0) / 1e9);
                });
                System.out.printf(Locale.ROOT, "java-gpu logits-download perplexity %dx%d: %.0f tok/s%n", batch, seq,
                        downloaded);
            }
            if (parts.contains("decode")) {
                int[] promptIds = r.ints(prompt, 0, model.spec().vocabSize()).toArray();
                Generator generator = new Generator(model, ExpertMask.NONE);
                int steps = decode;
                double[] prefillRate = new double[1];
                double dec = median(runs, () -> {
                    Generator.Result g = generator.generate(promptIds, steps + 1, Sampler.greedy(), List.of(), t -> true);
                    prefillRate[0] = g.prefillTokensPerSecond();
                    return g.decodeTokensPerSecond();
                });
                System.out.printf(Locale.ROOT, "java-gpu decode batch 1 (%d steps after %d prompt tokens): %.1f tok/s "
                        + "(generation prefill %.0f tok/s)%n", steps, prompt, dec, prefillRate[0]);
                Generator viaLogits = new Generator(model, ExpertMask.NONE, logitsToHost(generation));
                double decLogits = median(runs, () -> viaLogits.generate(promptIds, steps + 1, Sampler.greedy(),
                        List.of(), t -> true).decodeTokensPerSecond());
                System.out.printf(Locale.ROOT, "java-gpu decode batch 1, logits to the host's argmax: %.1f tok/s "
                        + "(argmax on the device %.2fx)%n", decLogits, dec / decLogits);
                int sequences = decodeBatch;
                double batched = median(runs,
                        () -> batchedDecode(generation, model, sequences, promptIds, steps, true));
                System.out.printf(Locale.ROOT, "java-gpu decode batch %d (%d steps after %d prompt tokens): %.1f tok/s%n",
                        sequences, steps, prompt, batched);
                // The baseline of the same process: every step's logits downloaded and scanned on the host.
                double hostArgmax = median(runs,
                        () -> batchedDecode(generation, model, sequences, promptIds, steps, false));
                System.out.printf(Locale.ROOT, "java-gpu decode batch %d, logits to the host's argmax: %.1f tok/s "
                        + "(argmax on the device %.2fx)%n", sequences, hostArgmax, batched / hostArgmax);
            }
            System.out.printf(Locale.ROOT, "java-gpu peak device memory %.1f GiB%n", ops.peakBytes() / (double) (1L << 30));
        } catch (MoepruneException e) {
            System.out.println("java-gpu: " + e.getMessage());
            System.exit(e.exitCode());
        } finally {
            PrefillPasses.reset();
        }
    }

    /**
     * The steps of {@code device} with only their logits (the interface's default greedy methods: Sampler.argmax of the
     * downloaded logits), the baseline of greedy decoding on the device.
     */
    private static DecodeSteps.Factory logitsToHost(DecodeSteps.Factory device) {
        return (model, mask, positions) -> {
            DecodeSteps steps = device.open(model, mask, positions);
            return new DecodeSteps() {
                @Override
                public float[] prefill(int[] prompt) {
                    return steps.prefill(prompt);
                }

                @Override
                public float[] decode(int token) {
                    return steps.decode(token);
                }

                @Override
                public void close() {
                    steps.close();
                }
            };
        };
    }

    /**
     * Tokens/s of {@code steps} greedy steps of {@code sequences} sequences at once (each prefilled with the prompt,
     * its first token shifted per sequence so the sequences differ), the prefills not timed; the next tokens picked on
     * the device ({@code onDevice}: GpuDecoder.decodeAllGreedy) or by the host's Sampler.argmax over downloaded logits.
     */
    private static double batchedDecode(GpuGeneration generation, Model model, int sequences, int[] prompt, int steps,
                                        boolean onDevice) {
        int vocab = model.spec().vocabSize();
        try (GpuDecoder decoder = generation.openBatch(model, ExpertMask.NONE, sequences, prompt.length + steps + 1)) {
            int[] next = new int[sequences];
            for (int s = 0; s < sequences; s++) {
                int[] p = prompt.clone();
                p[0] = (p[0] + s) % vocab;
                next[s] = decoder.prefillGreedy(s, p);
            }
            long t0 = System.nanoTime();
            for (int t = 0; t < steps; t++) {
                if (onDevice) {
                    next = decoder.decodeAllGreedy(next);   // 8 bytes a sequence come back, not its logits
                } else {
                    float[] logits = decoder.decodeAll(next);
                    int width = logits.length / sequences;
                    for (int s = 0; s < sequences; s++) next[s] = Sampler.argmax(logits, s * width, width);
                }
            }
            return (double) sequences * steps / ((System.nanoTime() - t0) / 1e9);
        }
    }

    /**
     * The phase table of the last run of {@code pass} when it was profiled (-Dmoeprune.gpuPhases=true), then its
     * operations' tables when they were (-Dmoeprune.gpuOps=true): the compute stream's, then the download stream's.
     */
    private static void printPhases(String what, GpuLayerMajorPass pass) {
        if (pass == null) return;
        if (pass.phaseProfile() != null) {
            System.out.println("java-gpu " + what + " phases (last run):");
            System.out.print(pass.phaseProfile().table());
        }
        if (pass.opProfile() != null) {
            System.out.println("java-gpu " + what + " operations (last run, compute stream):");
            System.out.print(pass.opProfile().table());
        }
        if (pass.downloadOpProfile() != null && !pass.downloadOpProfile().ops().isEmpty()) {
            System.out.println("java-gpu " + what + " operations (last run, download stream: the observers' copies):");
            System.out.print(pass.downloadOpProfile().table());
        }
    }

    /** The median of {@code runs} measurements after one warm-up. */
    private static double median(int runs, Supplier<Double> measure) {
        measure.get();
        double[] v = new double[runs];
        for (int i = 0; i < runs; i++) v[i] = measure.get();
        Arrays.sort(v);
        return v[runs / 2];
    }
}
