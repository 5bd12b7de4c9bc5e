package io.moeprune.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The logical tensors of a checkpoint: quantised pairs are joined into one tensor and their companions hidden
 * ({@code X.weight_scale_inv} beside an FP8 {@code X.weight}; {@code P_blocks} + {@code P_scales} become {@code P}).
 * Everything else is a {@link LogicalTensor.Plain}. Built once per checkpoint; shapes are validated up front so
 * a bad companion is reported when the model is opened, not in the middle of a run.
 */
public final class LogicalTensors {
    public static final String SCALE_INV_SUFFIX = "_scale_inv";
    public static final String BLOCKS_SUFFIX = "_blocks";
    public static final String SCALES_SUFFIX = "_scales";

    /** Block size of FP8 scales: rows x cols of weight elements per scale. */
    public record BlockSize(int rows, int cols) {
        public static final BlockSize DEFAULT = new BlockSize(128, 128);

        /**
         * {@code quantization_config.weight_block_size} of a model directory's config.json, or the 128x128 default
         * when there is no config, no quantization_config or no block size.
         */
        public static BlockSize of(Path modelDir) {
            Path config = modelDir.resolve("config.json");
            if (!Files.isRegularFile(config)) return DEFAULT;
            JsonNode root;
            try {
                root = SafetensorsFile.JSON.readTree(Files.readString(config));
            } catch (IOException e) {
                throw MoepruneException.inFile(config, "not valid JSON: "
                        + SafetensorsFile.oneLine(SafetensorsFile.describe(e)));
            }
            JsonNode q = root == null ? null : root.get("quantization_config");
            JsonNode bs = q == null || !q.isObject() ? null : q.get("weight_block_size");
            if (bs == null || bs.isNull()) return DEFAULT;
            if (!bs.isArray() || bs.size() != 2 || !bs.get(0).canConvertToInt() || !bs.get(1).canConvertToInt()
                    || !bs.get(0).isIntegralNumber() || !bs.get(1).isIntegralNumber()
                    || bs.get(0).asInt() <= 0 || bs.get(1).asInt() <= 0) {
                throw MoepruneException.inFile(config, "quantization_config.weight_block_size " + bs
                        + " is not two positive integers");
            }
            return new BlockSize(bs.get(0).asInt(), bs.get(1).asInt());
        }
    }

    private final Path dir;
    private final Map<String, LogicalTensor> tensors;   // logical name -> tensor, in checkpoint order
    private final Map<String, String> ownerOfStored;     // stored name -> logical name

    private LogicalTensors(Path dir, Map<String, LogicalTensor> tensors, Map<String, String> ownerOfStored) {
        this.dir = dir;
        this.tensors = tensors;
        this.ownerOfStored = ownerOfStored;
    }

    /** The logical view of a checkpoint with the given FP8 block size. */
    public static LogicalTensors of(Checkpoint ckpt, BlockSize blocks) {
        Map<String, LogicalTensor> out = new LinkedHashMap<>();
        Map<String, String> owner = new HashMap<>();
        for (String name : ckpt.names()) {
            if (owner.containsKey(name)) continue;
            LogicalTensor t = join(ckpt, name, blocks);
            if (out.containsKey(t.name())) {
                throw MoepruneException.inFile(ckpt.dir(), "logical tensor '" + t.name()
                        + "' is stored both plain and as a quantised pair");
            }
            out.put(t.name(), t);
            for (Tensor p : t.parts()) owner.put(p.name(), t.name());
        }
        return new LogicalTensors(ckpt.dir(), Collections.unmodifiableMap(out), owner);
    }

    /** The logical tensor that stored tensor {@code name} is part of. */
    private static LogicalTensor join(Checkpoint ckpt, String name, BlockSize blocks) {
        TensorInfo info = ckpt.info(name);
        // A companion that comes before its main part builds the pair (the main part is then skipped).
        if (name.endsWith(SCALE_INV_SUFFIX)) {
            String main = name.substring(0, name.length() - SCALE_INV_SUFFIX.length());
            if (ckpt.has(main) && isFp8(ckpt.info(main).dtype())) {
                return joinFp8(ckpt, main, blocks);
            }
        }
        if (name.endsWith(SCALES_SUFFIX) && info.dtype() == DType.U8) {
            String base = name.substring(0, name.length() - SCALES_SUFFIX.length());
            if (ckpt.has(base + BLOCKS_SUFFIX) && ckpt.info(base + BLOCKS_SUFFIX).dtype() == DType.U8) {
                return joinMxfp4(ckpt, base);
            }
        }
        if (isFp8(info.dtype()) && ckpt.has(name + SCALE_INV_SUFFIX)) return joinFp8(ckpt, name, blocks);
        if (name.endsWith(BLOCKS_SUFFIX) && info.dtype() == DType.U8) {
            String base = name.substring(0, name.length() - BLOCKS_SUFFIX.length());
            if (ckpt.has(base + SCALES_SUFFIX) && ckpt.info(base + SCALES_SUFFIX).dtype() == DType.U8) {
                return joinMxfp4(ckpt, base);
            }
        }
        return new LogicalTensor.Plain(ckpt.tensor(name));
    }

    private static boolean isFp8(DType d) {
        return d == DType.F8_E4M3 || d == DType.F8_E5M2;
    }

    private static LogicalTensor joinFp8(Checkpoint ckpt, String name, BlockSize blocks) {
        Tensor w = ckpt.tensor(name);
        Tensor s = ckpt.tensor(name + SCALE_INV_SUFFIX);
        long[] ws = w.shape(), ss = s.shape();
        if (!s.dtype().isFloating()) {
            throw MoepruneException.inFile(s.file(), "tensor '" + s.name() + "' is " + s.dtype()
                    + ", not a float scale");
        }
        if (s.elementCount() != 1) {
            boolean fits = ws.length >= 2 && ss.length == ws.length;
            for (int i = 0; fits && i < ws.length - 2; i++) fits = ss[i] == ws[i];
            fits = fits && ss[ss.length - 2] == ceilDiv(ws[ws.length - 2], blocks.rows())
                    && ss[ss.length - 1] == ceilDiv(ws[ws.length - 1], blocks.cols());
            if (!fits) {
                throw MoepruneException.inFile(s.file(), "scale '" + s.name() + "' has shape " + Arrays.toString(ss)
                        + ", which does not fit weight shape " + Arrays.toString(ws) + " with " + blocks.rows() + "x"
                        + blocks.cols() + " blocks");
            }
        }
        return new LogicalTensor.Fp8Blocks(name, w, s, blocks.rows(), blocks.cols());
    }

    private static LogicalTensor joinMxfp4(Checkpoint ckpt, String base) {
        Tensor b = ckpt.tensor(base + BLOCKS_SUFFIX);
        Tensor s = ckpt.tensor(base + SCALES_SUFFIX);
        long[] bs = b.shape(), ss = s.shape();
        if (bs.length < 2 || bs[bs.length - 1] != 16 || !Arrays.equals(ss, Arrays.copyOf(bs, bs.length - 1))) {
            throw MoepruneException.inFile(b.file(), "MXFP4 pair '" + b.name() + "' " + Arrays.toString(bs) + " / '"
                    + s.name() + "' " + Arrays.toString(ss) + " should be [..., G, 16] and [..., G]");
        }
        return new LogicalTensor.Mxfp4(base, b, s);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /** Logical names in checkpoint order (companions hidden). */
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    public LogicalTensor get(String name) {
        LogicalTensor t = tensors.get(name);
        if (t == null) throw MoepruneException.inFile(dir, "checkpoint has no tensor named '" + name + "'");
        return t;
    }

    public Optional<LogicalTensor> find(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /** All logical tensors in checkpoint order. */
    public Iterable<LogicalTensor> all() {
        return tensors.values();
    }

    /** The logical tensor a stored tensor belongs to (itself when plain; the pair's name for a companion). */
    public Optional<String> ownerOf(String storedName) {
        return Optional.ofNullable(ownerOfStored.get(storedName));
    }

    public int size() {
        return tensors.size();
    }
}
