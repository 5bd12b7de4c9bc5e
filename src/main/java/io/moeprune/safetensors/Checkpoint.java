package io.moeprune.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The weights of a Hugging Face model directory: either a single {@code model.safetensors} or the shards named
 * by {@code model.safetensors.index.json}. Each shard is mapped once; tensors are looked up by name.
 */
public final class Checkpoint implements AutoCloseable {
    public static final String INDEX = "model.safetensors.index.json";
    public static final String SINGLE = "model.safetensors";

    private final Path dir;
    private final Map<String, SafetensorsFile> shards;        // shard file name -> mapped file
    private final Map<String, SafetensorsFile> byTensor;      // tensor name -> shard holding it
    private final Map<String, String> indexMetadata;
    private volatile LogicalTensors logical;

    private Checkpoint(Path dir, Map<String, SafetensorsFile> shards, Map<String, SafetensorsFile> byTensor,
                       Map<String, String> indexMetadata) {
        this.dir = dir;
        this.shards = shards;
        this.byTensor = byTensor;
        this.indexMetadata = indexMetadata;
    }

    public static Checkpoint open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw MoepruneException.inFile(dir, Files.exists(dir) ? "not a directory" : "model directory not found");
        }
        Path index = dir.resolve(INDEX);
        if (Files.isRegularFile(index)) return openIndexed(dir, index);
        Path single = dir.resolve(SINGLE);
        if (Files.isRegularFile(single)) {
            SafetensorsFile f = SafetensorsFile.open(single);
            Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
            for (String n : f.tensors().keySet()) byTensor.put(n, f);
            return new Checkpoint(dir, Map.of(SINGLE, f), byTensor, Map.of());
        }
        throw MoepruneException.inFile(dir, "no " + SINGLE + " or " + INDEX + " in the model directory");
    }

    /**
     * A checkpoint made of one safetensors file of any name (e.g. a test fixture or a single exported tensor
     * file); {@link #dir()} is the file's directory.
     */
    public static Checkpoint openFile(Path file) {
        if (!Files.isRegularFile(file)) {
            throw MoepruneException.inFile(file, Files.exists(file) ? "not a regular file" : "file not found");
        }
        SafetensorsFile f = SafetensorsFile.open(file);
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        for (String n : f.tensors().keySet()) byTensor.put(n, f);
        Path parent = file.toAbsolutePath().getParent();
        return new Checkpoint(parent, Map.of(file.getFileName().toString(), f), byTensor, Map.of());
    }

    private static Checkpoint openIndexed(Path dir, Path index) {
        JsonNode root;
        try {
            root = SafetensorsFile.JSON.readTree(Files.readString(index));
        } catch (java.nio.charset.CharacterCodingException e) {
            throw MoepruneException.inFile(index, "not valid UTF-8");
        } catch (IOException e) {
            throw MoepruneException.inFile(index, "not valid JSON: "
                    + SafetensorsFile.oneLine(SafetensorsFile.describe(e)));
        }
        JsonNode map = root == null || !root.isObject() ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw MoepruneException.inFile(index, "no weight_map object");
        Map<String, String> meta = new LinkedHashMap<>();
        JsonNode md = root.get("metadata");
        if (md != null && md.isObject()) md.properties().iterator().forEachRemaining(e -> meta.put(e.getKey(), e.getValue().asText()));

        Map<String, SafetensorsFile> shards = new TreeMap<>();
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        try {
            for (var it = map.properties().iterator(); it.hasNext(); ) {
                var e = it.next();
                if (!e.getValue().isTextual()) {
                    throw MoepruneException.inFile(index, "weight_map entry for '" + SafetensorsFile.oneLine(e.getKey())
                            + "' is not a file name");
                }
                String shardName = e.getValue().asText();
                if (shardName.isEmpty() || shardName.contains("/") || shardName.contains("\\")
                        || shardName.equals("..") || shardName.equals(".") || shardName.indexOf('\0') >= 0) {
                    throw MoepruneException.inFile(index, "shard name '" + SafetensorsFile.oneLine(shardName)
                            + "' is not a plain file name");
                }
                SafetensorsFile shard = shards.get(shardName);
                if (shard == null) {
                    Path p = dir.resolve(shardName);
                    if (!Files.isRegularFile(p)) {
                        throw MoepruneException.inFile(index, "names shard '" + shardName + "', which is missing");
                    }
                    shard = SafetensorsFile.open(p);
                    shards.put(shardName, shard);
                }
                if (!shard.contains(e.getKey())) {
                    throw MoepruneException.inFile(shard.path(), "index says it holds '"
                            + SafetensorsFile.oneLine(e.getKey()) + "' but it does not");
                }
                byTensor.put(e.getKey(), shard);
            }
        } catch (RuntimeException ex) {
            shards.values().forEach(SafetensorsFile::close);
            throw ex;
        }
        return new Checkpoint(dir, Collections.unmodifiableMap(shards), byTensor, meta);
    }

    public Path dir() {
        return dir;
    }

    public Set<String> names() {
        return Collections.unmodifiableSet(byTensor.keySet());
    }

    public boolean has(String name) {
        return byTensor.containsKey(name);
    }

    public TensorInfo info(String name) {
        return shardOf(name).tensors().get(name);
    }

    public Tensor tensor(String name) {
        return shardOf(name).tensor(name);
    }

    /**
     * The logical tensors (quantised pairs joined, companions hidden), with the FP8 block size of the directory's
     * config.json ({@code quantization_config.weight_block_size}, default 128x128). Built on first use.
     */
    public LogicalTensors logical() {
        LogicalTensors l = logical;
        if (l == null) {
            l = LogicalTensors.of(this, LogicalTensors.BlockSize.of(dir));
            logical = l;
        }
        return l;
    }

    /** The logical view with an explicit FP8 block size (for checkpoints without a config.json). */
    public LogicalTensors logical(LogicalTensors.BlockSize blockSize) {
        return LogicalTensors.of(this, blockSize);
    }

    /** The shard that holds a tensor. */
    public SafetensorsFile shardOf(String name) {
        SafetensorsFile f = byTensor.get(name);
        if (f == null) throw MoepruneException.inFile(dir, "checkpoint has no tensor named '" + name + "'");
        return f;
    }

    /** Shard file name -> mapped shard, in file-name order. */
    /** Whether {@code range} lies inside one shard's mapping: memory of the checkpoint's files, not a copy. */
    public boolean maps(java.lang.foreign.MemorySegment range) {
        for (SafetensorsFile f : shards.values()) if (f.maps(range)) return true;
        return false;
    }

    public Map<String, SafetensorsFile> shards() {
        return shards;
    }

    /** The index's {@code metadata} object (empty for a single-file checkpoint). */
    public Map<String, String> indexMetadata() {
        return indexMetadata;
    }

    @Override
    public void close() {
        shards.values().forEach(SafetensorsFile::close);
    }
}
