package io.moeprune.eval;

import java.nio.file.Path;

/**
 * Everything one {@code moeprune eval} run measured; a task that was not asked for is null.
 *
 * @param kernels       the compute kernels that ran (e.g. the vector width, AMX tiles or not): speed depends on them
 * @param residentBytes the process's VmRSS after the tasks, null where unknown
 */
public record EvalReport(Path model, Path mask, int threads, String kernels, WeightMemory weights, Long residentBytes,
                         TextTask text, ChoiceTask choice, GenerateTask generate, SpeedMeasurement.Result speed) {

    public record TextTask(Path file, int maxTokensPerDoc, TextEvaluation.Result result) {
    }

    public record ChoiceTask(Path file, ChoiceEvaluation.Result result) {
    }

    public record GenerateTask(Path file, GenerationEvaluation.Options options, GenerationEvaluation.Result result) {
    }
}
