package io.moeprune.prune;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.inspect.TensorCheck;
import io.moeprune.io.IoErrors;
import io.moeprune.io.StagedOutput;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.provenance.Provenance;
import io.moeprune.provenance.ProvenanceFile;
import io.moeprune.provenance.ProvenanceWriter;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.SafetensorsFile;
import io.moeprune.safetensors.SafetensorsWriter;
import io.moeprune.safetensors.TensorInfo;
import io.moeprune.safetensors.TensorSource;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.MaskFiles;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes a smaller Hugging Face checkpoint that keeps only the experts of a mask, renumbered 0..K-1 in ascending
 * original id (docs/pruning.md). Tensor bytes are never decoded: unchanged tensors and kept experts are copied
 * channel to channel, sliced tensors as whole contiguous per-expert byte ranges, so memory stays bounded by the
 * tensor descriptions whatever the model size. The input is only read; the output appears complete or not at all.
 */
public final class Pruner {

    /**
     * @param maxShardBytes shard size bound (transformers' max_shard_size), or {@link #AS_INPUT}: the tensor bytes of
     *                      the input's largest shard
     * @param force         replace an existing output directory (only once the new one is complete)
     * @param fault         injected write failure, {@link WriteFault#NONE} outside tests
     * @param progress      told the staging directory and the bytes to write, may be null
     * @param verification  run on the staged model before it is moved into place, may be null
     */
    public record Options(long maxShardBytes, boolean force, WriteFault fault, Progress progress,
                          Verification verification) {
        /**
         * maxShardBytes meaning "no larger than the input's largest shard": the output keeps the input's shard size,
         * and a sharded model's kept bytes are written as several shards side by side.
         */
        public static final long AS_INPUT = 0;

        public static Options defaults() {
            return new Options(AS_INPUT, false, WriteFault.NONE, null, null);
        }

        public Options withForce(boolean f) {
            return new Options(maxShardBytes, f, fault, progress, verification);
        }

        public Options withMaxShardBytes(long b) {
            return new Options(b, force, fault, progress, verification);
        }

        public Options withFault(WriteFault f) {
            return new Options(maxShardBytes, force, f, progress, verification);
        }

        public Options withProgress(Progress p) {
            return new Options(maxShardBytes, force, fault, p, verification);
        }

        /** Verify the staged model before moving it into place (null: no verification). */
        public Options withVerification(Verification v) {
            return new Options(maxShardBytes, force, fault, progress, v);
        }
    }

    /** Receives where the output is being written and how many tensor bytes it will hold (for a progress bar). */
    public interface Progress {
        void started(Path stagingDir, long totalBytes);

        void finished();
    }

    /**
     * Shards written at once: the kernel copies into different files side by side (into one file they are
     * serialised), so a multi-shard output copies up to this many times faster while cores are free.
     */
    static final int PARALLEL_SHARDS = Math.clamp(Runtime.getRuntime().availableProcessors(), 1, 4);

    private Pruner() {
    }

    /**
     * Reads the mask file and prunes. The mask may also be a pruned checkpoint's moeprune.json: it is then the mask
     * of the original model that reproduces that checkpoint.
     */
    public static PruneResult prune(Path model, Path maskFile, Path out, Options options) {
        ExpertMask mask = ProvenanceFile.isProvenance(maskFile) ? ProvenanceFile.read(maskFile).asMask() : MaskFiles.read(maskFile);
        return prune(model, mask, maskFile, out, options);
    }

    public static PruneResult prune(Path model, ExpertMask mask, Path maskFile, Path out, Options options) {
        long start = System.nanoTime();
        ModelSpec spec = ConfigReader.read(model);
        Path configFile = model.resolve(ConfigReader.CONFIG);
        int k = MaskCheck.check(mask, maskFile, spec);
        GroupRewrite groups = GroupRewrite.plan(spec, mask, maskFile);
        if (options.verification() != null) options.verification().checkSupported(model);

        try (Checkpoint in = Checkpoint.open(model)) {
            String sourceFingerprint = ModelFingerprint.of(spec, in);
            if (!mask.fingerprint().isEmpty()) {
                if (!sourceFingerprint.equals(mask.fingerprint())) {
                    throw MoepruneException.inFile(maskFile, "mask was made for another model (fingerprint "
                            + abbrev(mask.fingerprint()) + ", this model's is " + abbrev(sourceFingerprint) + ")");
                }
            }
            TensorCheck inputCheck = TensorCheck.of(spec, in);
            if (!inputCheck.passes()) {
                throw MoepruneException.inFile(model, "checkpoint does not match its config.json ("
                        + describe(inputCheck) + "); run `moeprune inspect` on it");
            }
            // A source pruned before has a record: the new one continues its chain (ids map back to its original).
            ProvenanceWriter provenance = ProvenanceWriter.forSource(model, sourceFingerprint, spec);
            List<TensorAction> actions = TensorPlan.of(spec, in, mask.moeLayers(), mask.kept());
            boolean dropsMtp = actions.stream().anyMatch(a -> a instanceof TensorAction.Drop d
                    && d.reason().startsWith("multi-token"));
            JsonNode original = ConfigRewrite.read(configFile);
            Map<String, Integer> changes = ConfigRewrite.changes(spec.expertCountKey(), k, groups, dropsMtp, original);
            String newConfig = ConfigRewrite.rewrite(configFile, changes);
            ModelSpec pruned = ConfigReader.parse(newConfig, configFile);   // the pruned config must itself be valid

            long inputBytes = 0, outputBytes = 0;
            for (String n : in.names()) inputBytes += in.info(n).byteSize();
            for (TensorAction a : actions) outputBytes += outputBytes(in, a);

            OutputLocation.checkOutsideModel(out, model);
            try (StagedOutput dir = StagedOutput.directory(out, options.force())) {
                Path staging = dir.staging();
                if (options.progress() != null) options.progress().started(staging, outputBytes);
                SafetensorsWriter.Result written;
                long shardBytes = options.maxShardBytes() > 0 ? options.maxShardBytes() : largestShard(in);
                try (SafetensorsWriter w = new SafetensorsWriter(staging, shardBytes, shardMetadata(in))) {
                    w.parallelShards(PARALLEL_SHARDS);
                    for (TensorAction a : actions) write(w, in, a, options.fault());
                    written = w.finish();
                } catch (MoepruneException e) {
                    throw dir.aboutOutput(e);   // the writer names its temporary shard
                }
                if (written.totalSize() != outputBytes) {
                    throw new IllegalStateException("wrote " + written.totalSize() + " tensor bytes, planned " + outputBytes);
                }
                Files.writeString(staging.resolve(ConfigReader.CONFIG), newConfig);
                // The input's own shards and index are replaced by the pruned ones: neither copied nor reported as left out.
                Set<String> replaced = new java.util.HashSet<>(in.shards().keySet());
                replaced.add(ConfigReader.CONFIG);
                replaced.add(Checkpoint.INDEX);
                replaced.addAll(ProvenanceWriter.WRITTEN);
                AuxiliaryFiles.Result aux = AuxiliaryFiles.copy(model, staging, replaced, options.fault());
                try (Checkpoint check = Checkpoint.open(staging)) {
                    TensorCheck outCheck = TensorCheck.of(pruned, check);
                    // Extra tensors the input already had (copied unchanged) are fine; anything else is a bug.
                    if (!outCheck.passes() || !inputCheck.unexpected().containsAll(outCheck.unexpected())) {
                        throw new IllegalStateException("pruned checkpoint does not match its config: " + describe(outCheck));
                    }
                    provenance.write(staging, mask, maskFile, Provenance.ModelRef.of("", ModelFingerprint.of(pruned, check), pruned));
                }
                if (options.progress() != null) options.progress().finished();
                Verification.VerifyReport verified = options.verification() == null ? null
                        : options.verification().verify(model, staging, mask);
                dir.commit();
                int dropped = (int) actions.stream().filter(a -> a instanceof TensorAction.Drop).count();
                List<String> shards = written.shards().stream().map(p -> p.getFileName().toString()).toList();
                List<String> copied = new ArrayList<>(aux.copied());
                copied.addAll(0, ProvenanceWriter.WRITTEN);
                copied.addFirst(ConfigReader.CONFIG);
                return new PruneResult(dir.target(), k, spec.moe().numExperts(), changes, shards, written.totalSize(),
                        inputBytes, actions.size() - dropped, dropped, copied, aux.skipped(),
                        (System.nanoTime() - start) / 1e9, verified);
            } catch (IOException e) {
                throw new MoepruneException(out + ": cannot write: " + IoErrors.reason(e), MoepruneException.FAILED, e);
            }
        }
    }

    /** Tensor bytes of a checkpoint's largest shard (at least 1). */
    private static long largestShard(Checkpoint in) {
        long largest = 1;
        for (SafetensorsFile f : in.shards().values()) {
            largest = Math.max(largest, f.tensors().values().stream().mapToLong(TensorInfo::byteSize).sum());
        }
        return largest;
    }

    /** The shards' __metadata__: the input's (usually {"format": "pt"}). */
    private static Map<String, String> shardMetadata(Checkpoint in) {
        SafetensorsFile first = in.shards().values().iterator().next();
        Map<String, String> md = first.metadata();
        return md == null || md.isEmpty() ? Map.of("format", "pt") : md;
    }

    static long outputBytes(Checkpoint in, TensorAction a) {
        return switch (a) {
            case TensorAction.Copy c -> in.info(c.source()).byteSize();
            case TensorAction.SliceExperts s -> in.info(s.source()).byteSize() / in.info(s.source()).dim(0) * s.rows().length;
            case TensorAction.Drop d -> 0;
        };
    }

    private static void write(SafetensorsWriter w, Checkpoint in, TensorAction a, WriteFault fault) {
        SafetensorsFile f;
        TensorInfo t;
        switch (a) {
            case TensorAction.Drop d -> {
                return;
            }
            case TensorAction.Copy c -> {
                f = in.shardOf(c.source());
                t = f.tensors().get(c.source());
                w.add(c.target(), t.dtype(), t.shape(), faulty(TensorSource.of(f, c.source()), c.target(), fault));
            }
            case TensorAction.SliceExperts s -> {
                f = in.shardOf(s.source());
                t = f.tensors().get(s.source());
                long[] shape = t.shape().clone();
                shape[0] = s.rows().length;
                w.add(s.target(), t.dtype(), shape, faulty(TensorSource.dim0(f, s.source(), s.rows()), s.target(), fault));
            }
        }
    }

    /**
     * Without an injected fault, the file ranges themselves (the writer copies them channel to channel). With one,
     * the same bytes through a producer that first asks the fault whether this write fails.
     */
    private static TensorSource faulty(TensorSource.FileRanges src, String name, WriteFault fault) {
        if (fault == WriteFault.NONE) return src;
        return new TensorSource.Generated(src.byteSize(), out -> {
            fault.check("tensor " + name);
            try (FileChannel ch = FileChannel.open(src.file(), StandardOpenOption.READ)) {
                for (int i = 0; i < src.offsets().length; i++) {
                    long pos = src.offsets()[i], end = pos + src.lengths()[i];
                    while (pos < end) pos += ch.transferTo(pos, end - pos, out);
                }
            }
        });
    }

    private static String abbrev(String fingerprint) {
        return fingerprint.length() > 12 ? fingerprint.substring(0, 12) + "..." : fingerprint;
    }

    private static String describe(TensorCheck c) {
        List<String> parts = new ArrayList<>();
        if (!c.missing().isEmpty()) parts.add(c.missing().size() + " missing, e.g. " + c.missing().getFirst().name());
        if (!c.wrongShape().isEmpty()) parts.add(c.wrongShape().size() + " with a wrong shape, e.g. " + c.wrongShape().getFirst().name());
        if (!c.unexpected().isEmpty()) parts.add(c.unexpected().size() + " unexpected, e.g. " + c.unexpected().getFirst());
        return String.join(", ", parts);
    }
}
