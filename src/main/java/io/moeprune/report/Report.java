package io.moeprune.report;

import java.time.Instant;
import java.util.List;

/**
 * Everything one report shows: the study, the full and pruned checkpoints' size, speed and loss, and the setting.
 *
 * @param modelName   the model directory's name
 * @param family      model_type
 * @param layers      decoder layers / MoE layers
 * @param topK        experts per token
 * @param models      the full model first, then one pruned checkpoint per budget (largest budget first)
 * @param threads     compute threads used for the measurements
 * @param machine     processors and CPU model, for the throughput figures
 */
public record Report(ReportConfig config, String modelName, String family, int layers, int moeLayers, int topK,
                     StudyResult study, List<ModelMeasurement> models, int threads, String machine, Instant created,
                     double seconds) {

    /** The same report described with another configuration (e.g. paths as they are after the output is moved). */
    public Report withConfig(ReportConfig c) {
        return new Report(c, modelName, family, layers, moeLayers, topK, study, models, threads, machine, created, seconds);
    }

    /** True when every pruned checkpoint's loss equals its masked full model's (pruning was exact). */
    public boolean pruningExact() {
        return models.stream().allMatch(m -> m.lossMismatch() <= ReportRun.EXACT_TOLERANCE);
    }
}
