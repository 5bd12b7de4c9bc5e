package io.moeprune.patterns;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.StatsFile;
import io.moeprune.io.JsonFiles;
import io.moeprune.io.StagedOutput;
import io.moeprune.select.MaskFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A directory of expert patterns, one per task (docs/patterns.md):
 * <pre>
 * STORE/store.json                       model, signature kind and depth
 * STORE/tasks/NAME/mask.json             kept experts, the native mask format (usable as --mask)
 * STORE/tasks/NAME/signature.json        every signature kind's vector
 * STORE/tasks/NAME/calibration.stats     the task's calibration statistics
 * </pre>
 * Each task directory is written in a hidden sibling and renamed into place, so adding or replacing one task never
 * touches the others and an interrupted build leaves no half-written task.
 */
public final class PatternStore {
    public static final String FORMAT = "moeprune-pattern-store";
    public static final int VERSION = 1;
    public static final String STORE_JSON = "store.json", MASK = "mask.json", SIGNATURE = "signature.json",
            STATS = "calibration.stats";
    private static final Pattern TASK_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private final Path dir;
    private final StoreInfo info;

    private PatternStore(Path dir, StoreInfo info) {
        this.dir = dir;
        this.info = info;
    }

    public Path dir() {
        return dir;
    }

    public StoreInfo info() {
        return info;
    }

    public static boolean exists(Path dir) {
        return Files.isRegularFile(dir.resolve(STORE_JSON));
    }

    /** Creates an empty store; refuses a directory that already holds anything. */
    public static PatternStore create(Path dir, StoreInfo info) {
        if (Files.exists(dir) && !isEmptyDirectory(dir)) {
            throw MoepruneException.inFile(dir, "exists and is not a pattern store (no " + STORE_JSON + ")");
        }
        ObjectNode root = JsonFiles.mapper().createObjectNode();
        root.put("format", FORMAT).put("version", VERSION);
        ObjectNode model = root.putObject("model");
        model.put("path", info.modelPath()).put("fingerprint", info.fingerprint()).put("family", info.family()).put("num_experts", info.numExperts())
                .put("top_k", info.topK());
        ArrayNode layers = model.putArray("moe_layers");
        info.moeLayers().forEach(layers::add);
        root.putObject("signature").put("default", info.defaultKind().cliName()).put("depth", info.depth());
        root.put("created", Instant.now().toString());
        JsonFiles.write(root, dir.resolve(STORE_JSON));
        return new PatternStore(dir, info);
    }

    public static PatternStore open(Path dir) {
        Path file = dir.resolve(STORE_JSON);
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(dir, "is not a pattern store (no " + STORE_JSON + ")");
        JsonNode root = JsonFiles.readObject(file);
        if (!FORMAT.equals(root.path("format").asText())) {
            throw MoepruneException.inFile(file, "not a pattern store (\"format\" is not \"" + FORMAT + "\")");
        }
        if (root.path("version").asInt() != VERSION) {
            throw MoepruneException.inFile(file, "store version " + root.path("version") + " is not supported");
        }
        JsonNode model = root.path("model"), sig = root.path("signature");
        if (!model.path("num_experts").isInt() || !model.path("moe_layers").isArray() || !sig.path("depth").isInt()) {
            throw MoepruneException.inFile(file, "needs model.num_experts, model.moe_layers and signature.depth");
        }
        List<Integer> moeLayers = new ArrayList<>();
        model.path("moe_layers").forEach(n -> moeLayers.add(n.asInt()));
        SignatureKind kind;
        try {
            kind = SignatureKind.parse(sig.path("default").asText());
        } catch (MoepruneException e) {
            throw MoepruneException.inFile(file, e.getMessage());
        }
        return new PatternStore(dir, new StoreInfo(model.path("path").asText(), model.path("fingerprint").asText(), model.path("family").asText(),
                model.path("num_experts").asInt(), model.path("top_k").asInt(), moeLayers, kind,
                sig.path("depth").asInt()));
    }

    /** Refuses a model other than the store's: its patterns would name the wrong experts. */
    public void requireModel(String fingerprint, Path modelDir) {
        if (!info.fingerprint().equals(fingerprint)) {
            throw MoepruneException.inFile(dir, "patterns were built for another model (fingerprint " + info.fingerprint()
                    + ", " + modelDir + " has " + fingerprint + ")");
        }
    }

    /** Stored task names, sorted. */
    public List<String> taskNames() {
        Path tasks = dir.resolve("tasks");
        if (!Files.isDirectory(tasks)) return List.of();
        try (Stream<Path> s = Files.list(tasks)) {
            return s.filter(p -> Files.isRegularFile(p.resolve(MASK))).map(p -> p.getFileName().toString())
                    .filter(n -> TASK_NAME.matcher(n).matches()).sorted().toList();
        } catch (IOException e) {
            throw MoepruneException.inFile(tasks, "cannot list: " + e.getMessage());
        }
    }

    public boolean has(String task) {
        return Files.isDirectory(taskDir(task));
    }

    public Path taskDir(String task) {
        return dir.resolve("tasks").resolve(task);
    }

    public TaskPattern read(String task) {
        Path d = taskDir(task);
        return new TaskPattern(task, MaskFiles.read(d.resolve(MASK)), SignatureFile.read(d.resolve(SIGNATURE)));
    }

    public List<TaskPattern> readAll() {
        return taskNames().stream().map(this::read).toList();
    }

    /** Writes one task (replacing an existing one only with {@code force}); the other tasks are not touched. */
    public void write(TaskPattern pattern, ExpertStats stats, boolean force) {
        checkName(pattern.name());
        try (StagedOutput staged = StagedOutput.directory(taskDir(pattern.name()), force)) {
            MaskFiles.write(pattern.mask(), staged.staging().resolve(MASK));
            SignatureFile.write(pattern.name(), pattern.signatures(), staged.staging().resolve(SIGNATURE));
            StatsFile.write(stats, info.family(), staged.staging().resolve(STATS));
            staged.commit();
        }
    }

    /** Task names become directory names: letters, digits, '.', '_' and '-', starting with a letter or digit. */
    public static void checkName(String task) {
        if (!TASK_NAME.matcher(task).matches()) {
            throw new MoepruneException("task name '" + task + "' must be 1-64 letters, digits, '.', '_' or '-', "
                    + "starting with a letter or digit");
        }
    }

    private static boolean isEmptyDirectory(Path p) {
        if (!Files.isDirectory(p)) return false;
        try (Stream<Path> s = Files.list(p)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }
}
