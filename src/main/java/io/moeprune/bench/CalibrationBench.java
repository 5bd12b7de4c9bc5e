package io.moeprune.bench;

import io.moeprune.calibrate.Calibrator;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.InferenceState;
import io.moeprune.runtime.Model;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Calibration throughput against plain prefill on the same tokens (goal: within 10 %).
 * Usage: bench/run calibration MODEL_DIR DEMOS.jsonl [demos=8] [rounds=5]
 */
public final class CalibrationBench {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: bench/run calibration MODEL_DIR DEMOS.jsonl [demos=8] [rounds=5]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int demos = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 5;
        ModelSpec spec = ConfigReader.read(dir);
        Tokenizer tok = Tokenizers.load(dir);
        List<String> texts = new ArrayList<>();
        List<int[]> ids = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(args[1]))) {
            if (line.isBlank() || texts.size() >= demos) continue;
            String text = new com.fasterxml.jackson.databind.ObjectMapper().readTree(line).path("text").asText();
            int[] t = tok.encode(text);
            texts.add(text);
            ids.add(Arrays.copyOf(t, Math.min(t.length, 512)));
        }
        long tokens = ids.stream().mapToLong(a -> a.length).sum();
        try (Model model = Model.load(dir, spec)) {
            double[] plain = new double[rounds], calib = new double[rounds];
            for (int r = -1; r < rounds; r++) {   // round -1 warms up both paths
                long t0 = System.nanoTime();
                InferenceState st = model.newState(512);
                for (int[] d : ids) {
                    st.reset();
                    model.forward(d, st, false);
                }
                long t1 = System.nanoTime();
                new Calibrator(model).run(ids, texts, "bench", "bench", n -> { });
                long t2 = System.nanoTime();
                if (r >= 0) {
                    plain[r] = tokens / ((t1 - t0) / 1e9);
                    calib[r] = tokens / ((t2 - t1) / 1e9);
                }
            }
            Arrays.sort(plain);
            Arrays.sort(calib);
            System.out.printf(Locale.ROOT, "%d demonstrations, %d tokens, %d rounds, %d cores%n", ids.size(), tokens, rounds,
                    Runtime.getRuntime().availableProcessors());
            System.out.printf(Locale.ROOT, "%-22s %10s %10s %10s%n", "tokens/s", "min", "median", "max");
            System.out.printf(Locale.ROOT, "%-22s %10.0f %10.0f %10.0f%n", "plain prefill", plain[0], plain[rounds / 2], plain[rounds - 1]);
            System.out.printf(Locale.ROOT, "%-22s %10.0f %10.0f %10.0f%n", "calibration", calib[0], calib[rounds / 2], calib[rounds - 1]);
            System.out.printf(Locale.ROOT, "calibration / prefill (medians): %.3f%n", calib[rounds / 2] / plain[rounds / 2]);
        }
    }
}
