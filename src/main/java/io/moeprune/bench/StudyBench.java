package io.moeprune.bench;

import io.moeprune.model.ConfigReader;
import io.moeprune.report.Study;
import io.moeprune.report.StudyConfig;
import io.moeprune.report.StudyMarkdown;
import io.moeprune.report.StudyResult;
import io.moeprune.runtime.Model;
import io.moeprune.select.Method;
import io.moeprune.tokenizer.Tokenizers;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The selection study on a model and a folder of domain files (DOMAIN.dev.jsonl): every method at 16/32 and 8/32 (or
 * the given budgets), the full model, and easyep masks out of domain. Prints Markdown tables for BENCHMARKS.md.
 * Usage: bench/run study MODEL_DIR DATA_DIR [demos=8] [evalDocs=32] [evalTokens=256] [keeps=16,8]
 */
public final class StudyBench {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: bench/run study MODEL_DIR DATA_DIR [demos=8] [evalDocs=32] [evalTokens=256] [keeps=16,8]");
            System.exit(2);
        }
        Path model = Path.of(args[0]), data = Path.of(args[1]);
        int demos = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        int evalDocs = args.length > 3 ? Integer.parseInt(args[3]) : 32;
        int evalTokens = args.length > 4 ? Integer.parseInt(args[4]) : 256;
        List<Integer> keeps = args.length > 5 ? Arrays.stream(args[5].split(",")).map(Integer::parseInt).toList() : List.of(16, 8);
        Map<String, Path> domains = new LinkedHashMap<>();
        try (var s = Files.list(data)) {
            s.filter(p -> p.getFileName().toString().endsWith(".dev.jsonl")).sorted()
                    .forEach(p -> domains.put(p.getFileName().toString().replace(".dev.jsonl", ""), p));
        }
        StudyConfig cfg = new StudyConfig(model, domains, List.of(Method.values()), keeps, demos, 2048, evalDocs,
                evalTokens, Method.EASYEP, 1);
        try (Model m = Model.load(model, ConfigReader.read(model))) {
            StudyResult r = new Study(cfg, m, Tokenizers.load(model), System.err::println).run();
            System.out.printf("Study of %s: %d demonstrations per domain, up to %d held-out documents x %d tokens, %d cores%n",
                    model.getFileName(), demos, evalDocs, evalTokens, Runtime.getRuntime().availableProcessors());
            System.out.print(StudyMarkdown.render(r));
        }
    }
}
