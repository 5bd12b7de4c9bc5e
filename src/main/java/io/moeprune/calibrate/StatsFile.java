package io.moeprune.calibrate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.moeprune.MoepruneException;
import io.moeprune.io.IoErrors;
import io.moeprune.io.StagedOutput;
import io.moeprune.model.MoeSpec.Groups;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.SafetensorsFile;
import io.moeprune.safetensors.SafetensorsWriter;
import io.moeprune.safetensors.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The calibration statistics file (docs/formats.md): one safetensors file holding, for every {@link Statistic},
 * an F64 tensor [demonstrations, MoE layers, experts] named by {@link Statistic#key()}, and in
 * {@code __metadata__} (string values): format = "moeprune-stats", version = "1", fingerprint, domain, family,
 * moe_layers (JSON array), num_experts, top_k, demos (JSON array of {sha256, tokens}), created (ISO-8601), and
 * n_group (1 without expert groups) and, with groups, topk_group and group_score ({@code max} / {@code sum_top2});
 * files written before the group keys existed lack them.
 */
public final class StatsFile {
    public static final String FORMAT = "moeprune-stats";
    public static final String VERSION = "1";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final java.lang.foreign.ValueLayout.OfDouble F64_LE =
            java.lang.foreign.ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private StatsFile() {
    }

    public static void write(ExpertStats stats, String family, Path file) {
        write(stats, family, Groups.NONE, file);
    }

    /** Also records the model's expert groups, which {@code select --strategy balanced} needs. */
    public static void write(ExpertStats stats, String family, Groups groups, Path file) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("version", VERSION);
        meta.put("fingerprint", stats.fingerprint());
        meta.put("domain", stats.domain());
        meta.put("family", family);
        meta.put("moe_layers", stats.moeLayers().toString());
        meta.put("num_experts", Integer.toString(stats.numExperts()));
        meta.put("top_k", Integer.toString(stats.topK()));
        ArrayNode demos = JSON.createArrayNode();
        stats.demos().forEach(d -> demos.addObject().put("sha256", d.sha256()).put("tokens", d.tokens()));
        meta.put("demos", demos.toString());
        meta.put("created", Instant.now().toString());
        meta.put("n_group", Integer.toString(groups.nGroup()));
        if (groups.enabled()) {
            meta.put("topk_group", Integer.toString(groups.topkGroup()));
            meta.put("group_score", groups.score().name().toLowerCase(java.util.Locale.ROOT));
        }
        try (StagedOutput staged = StagedOutput.file(file, true)) {
            try (SafetensorsWriter w = new SafetensorsWriter(staged.stagingDirectory(), Long.MAX_VALUE, meta)) {
                int d = stats.numDemos(), l = stats.numMoeLayers(), e = stats.numExperts();
                for (Statistic s : Statistic.values()) {
                    ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(d * l * e, 8)).order(ByteOrder.LITTLE_ENDIAN);
                    for (double[][] demo : stats.values().get(s)) for (double[] row : demo) for (double v : row) b.putDouble(v);
                    w.add(s.key(), DType.F64, new long[]{d, l, e}, b.flip());
                }
                w.finish();
            }
            Files.move(staged.stagingDirectory().resolve(Checkpoint.SINGLE), staged.staging());
            staged.commit();
        } catch (IOException ex) {
            throw new MoepruneException(file + ": cannot write statistics: " + IoErrors.reason(ex), MoepruneException.FAILED, ex);
        }
    }

    /** Reads a statistics file; the one-line errors name the file. */
    public static ExpertStats read(Path file) {
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(file, "statistics file not found");
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Map<String, String> meta = f.metadata();
            if (!FORMAT.equals(meta.get("format"))) {
                throw MoepruneException.inFile(file, "not a moeprune statistics file (made by `moeprune calibrate`)");
            }
            if (!VERSION.equals(meta.get("version"))) {
                throw MoepruneException.inFile(file, "statistics version " + meta.get("version") + " is not supported");
            }
            List<Integer> moeLayers = new ArrayList<>();
            JSON.readTree(meta.get("moe_layers")).forEach(n -> moeLayers.add(n.asInt()));
            int experts = Integer.parseInt(meta.get("num_experts"));
            int topK = Integer.parseInt(meta.get("top_k"));
            List<ExpertStats.Demo> demos = new ArrayList<>();
            for (JsonNode n : JSON.readTree(meta.get("demos"))) {
                demos.add(new ExpertStats.Demo(n.path("sha256").asText(), n.path("tokens").asInt()));
            }
            Map<Statistic, double[][][]> values = new EnumMap<>(Statistic.class);
            for (Statistic s : Statistic.values()) {
                if (!f.contains(s.key())) throw MoepruneException.inFile(file, "statistic '" + s.key() + "' is missing");
                Tensor t = f.tensor(s.key());
                long[] shape = t.shape();
                if (t.dtype() != DType.F64 || shape.length != 3 || shape[0] != demos.size()
                        || shape[1] != moeLayers.size() || shape[2] != experts) {
                    throw MoepruneException.inFile(file, "statistic '" + s.key() + "' has shape " + t.info().shapeString()
                            + " " + t.dtype() + ", expected F64 [" + demos.size() + ", " + moeLayers.size() + ", " + experts + "]");
                }
                double[][][] v = new double[demos.size()][moeLayers.size()][experts];
                long i = 0;
                for (double[][] demo : v) for (double[] row : demo) for (int e = 0; e < experts; e++) row[e] = t.data().get(F64_LE, 8 * i++);
                values.put(s, v);
            }
            return new ExpertStats(meta.getOrDefault("fingerprint", ""), meta.getOrDefault("domain", ""),
                    moeLayers, experts, topK, demos, values);
        } catch (IOException | NumberFormatException | NullPointerException e) {
            throw MoepruneException.inFile(file, "statistics metadata is incomplete or corrupt (" + e.getClass().getSimpleName() + ")");
        }
    }

    /**
     * The expert groups recorded in a statistics file: {@link Groups#NONE} for a model without groups, null when the
     * file predates the group keys (it cannot say).
     */
    public static Groups groups(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Map<String, String> meta = f.metadata();
            if (!meta.containsKey("n_group")) return null;
            if (Integer.parseInt(meta.get("n_group")) <= 1) return Groups.NONE;
            return new Groups(Integer.parseInt(meta.get("n_group")), Integer.parseInt(meta.get("topk_group")),
                    Groups.GroupScore.valueOf(meta.get("group_score").toUpperCase(java.util.Locale.ROOT)));
        } catch (RuntimeException e) {
            throw MoepruneException.inFile(file, "expert-group metadata is corrupt (" + e.getClass().getSimpleName() + ")");
        }
    }

    /** Family recorded in a statistics file (for messages). */
    public static String family(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            return f.metadata().getOrDefault("family", "");
        }
    }
}
