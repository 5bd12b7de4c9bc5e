package io.moeprune.report;

import io.moeprune.select.Method;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What `moeprune report` runs: the study grid (domains x methods x budgets) and the pruned-model measurements.
 *
 * @param model         model directory
 * @param domains       domain name -> document file (first {@code demos} = demonstrations)
 * @param methods       selection methods compared (always includes easyep, the method pruned into checkpoints)
 * @param keeps         experts kept per MoE layer, one budget each
 * @param pruneDomain   the domain whose easyep masks are pruned into real checkpoints
 * @param promptTokens  random-token prompt length for the prefill measurement
 * @param decodeSteps   greedy decode steps for the decode measurement
 * @param runs          timed runs per model (median reported)
 * @param commandLine   how the report was made, printed in it
 * @param textField     the key documents' texts are read from (--text-field; null: the usual forms)
 */
public record ReportConfig(Path model, Map<String, Path> domains, List<Method> methods, List<Integer> keeps,
                           int demos, int maxDemoTokens, int evalDocs, int evalTokens, String pruneDomain,
                           int promptTokens, int decodeSteps, int runs, long seed, String commandLine, String textField) {

    /** Documents in the usual forms (no --text-field). */
    public ReportConfig(Path model, Map<String, Path> domains, List<Method> methods, List<Integer> keeps, int demos,
                        int maxDemoTokens, int evalDocs, int evalTokens, String pruneDomain, int promptTokens,
                        int decodeSteps, int runs, long seed, String commandLine) {
        this(model, domains, methods, keeps, demos, maxDemoTokens, evalDocs, evalTokens, pruneDomain, promptTokens,
                decodeSteps, runs, seed, commandLine, null);
    }

    public StudyConfig study() {
        return new StudyConfig(model, domains, methods, keeps, demos, maxDemoTokens, evalDocs, evalTokens, Method.EASYEP, seed,
                textField);
    }
}
