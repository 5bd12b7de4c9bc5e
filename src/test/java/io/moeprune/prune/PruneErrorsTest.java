package io.moeprune.prune;

import io.moeprune.MoepruneException;
import io.moeprune.model.ModelSpec;
import io.moeprune.select.ExpertMask;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** Bad input and failures: each is a one-line error, leaves nothing behind and never touches the input. */
class PruneErrorsTest {
    @TempDir
    Path tmp;

    private final Path qwen = PruneFixtures.CONFORMANCE.resolve("qwen3_moe");
    private final ModelSpec qwenSpec = PruneFixtures.spec("qwen3_moe");

    private MoepruneException refused(Path model, Path mask, Path out, Pruner.Options options) throws IOException {
        Map<String, String> before = PruneFixtures.hashes(model);
        List<String> listing = PruneFixtures.listing(tmp);
        MoepruneException e = assertThrows(MoepruneException.class, () -> Pruner.prune(model, mask, out, options));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertEquals(before, PruneFixtures.hashes(model), "input changed");
        assertEquals(listing, PruneFixtures.listing(tmp), "something left behind");
        return e;
    }

    private Path rawMask(String family, int experts, int topK, String layers, String kept) throws IOException {
        Path f = tmp.resolve("raw-mask.json");
        Files.writeString(f, """
                {"format": "moeprune-expert-mask", "version": 1,
                 "model": {"fingerprint": "", "family": "%s", "num_experts": %d, "top_k": %d, "moe_layers": %s},
                 "method": "test", "budget": "", "domains": [], "layers": %s}
                """.formatted(family, experts, topK, layers, kept));
        return f;
    }

    @Test
    void maskForAnotherFamily() throws IOException {
        Path mask = rawMask("mixtral", 8, 2, "[0, 2]", "{\"0\": [0,1,2,3], \"2\": [0,1,2,3]}");
        assertTrue(refused(qwen, mask, tmp.resolve("out"), Pruner.Options.defaults()).getMessage()
                .contains("mask is for a mixtral model, not this qwen3_moe model"));
    }

    @Test
    void maskWithOtherExpertCountLayersOrTopK() throws IOException {
        Path out = tmp.resolve("out");
        assertTrue(refused(qwen, rawMask("qwen3_moe", 16, 2, "[0, 2]", "{\"0\": [0,1,2,3], \"2\": [0,1,2,3]}"), out,
                Pruner.Options.defaults()).getMessage().contains("16 routed experts per layer; this model has 8"));
        assertTrue(refused(qwen, rawMask("qwen3_moe", 8, 2, "[0, 1, 2]", "{\"0\": [0,1], \"1\": [0,1], \"2\": [0,1]}"), out,
                Pruner.Options.defaults()).getMessage().contains("this model's MoE layers are [0, 2]"));
        assertTrue(refused(qwen, rawMask("qwen3_moe", 8, 3, "[0, 2]", "{\"0\": [0,1,2,3], \"2\": [0,1,2,3]}"), out,
                Pruner.Options.defaults()).getMessage().contains("top-3"));
    }

    @Test
    void maskWithAnotherModelsFingerprint() throws IOException {
        ExpertMask m = PruneFixtures.halfMask(qwenSpec, 8);
        ExpertMask other = new ExpertMask("0123456789abcdef0123", m.family(), m.numExperts(), m.topK(), m.moeLayers(),
                m.kept(), m.method(), m.budget(), m.domains());
        Path mask = PruneFixtures.writeMask(other, tmp);
        assertTrue(refused(qwen, mask, tmp.resolve("out"), Pruner.Options.defaults()).getMessage()
                .contains("mask was made for another model (fingerprint 0123456789ab..., this model's is "));
    }

    @Test
    void duplicateOutOfRangeAndTooFewExperts() throws IOException {
        Path out = tmp.resolve("out");
        assertTrue(refused(qwen, rawMask("qwen3_moe", 8, 2, "[0, 2]", "{\"0\": [0,1,1,3], \"2\": [0,1,2,3]}"), out,
                Pruner.Options.defaults()).getMessage().contains("expert id 1 is listed twice"));
        assertTrue(refused(qwen, rawMask("qwen3_moe", 8, 2, "[0, 2]", "{\"0\": [0,1,2,8], \"2\": [0,1,2,3]}"), out,
                Pruner.Options.defaults()).getMessage().contains("expert id 8 is out of range 0..7"));
        assertTrue(refused(qwen, rawMask("qwen3_moe", 8, 2, "[0, 2]", "{\"0\": [5], \"2\": [0,1,2,3]}"), out,
                Pruner.Options.defaults()).getMessage().contains("layer 0 keeps 1 experts, fewer than the 2"));
    }

    @Test
    void differentCountsPerLayerAreRefusedWithTheReason() throws IOException {
        Path mask = rawMask("qwen3_moe", 8, 2, "[0, 2]", "{\"0\": [0,1,2,3], \"2\": [0,1,2]}");
        String m = refused(qwen, mask, tmp.resolve("out"), Pruner.Options.defaults()).getMessage();
        assertTrue(m.contains("layers keep different numbers of experts (layer 0: 4, layer 2: 3)"), m);
        assertTrue(m.contains("one expert count per model"), m);
    }

    @Test
    void existingOutputNeedsForceAndIsReplacedOnlyWhenComplete() throws IOException {
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(qwenSpec, 1), tmp);
        Path out = tmp.resolve("out");
        Files.createDirectories(out);
        Files.writeString(out.resolve("keep-me.txt"), "old");
        assertTrue(refused(qwen, mask, out, Pruner.Options.defaults()).getMessage().contains("already exists; use --force"));
        assertEquals("old", Files.readString(out.resolve("keep-me.txt")));

        // --force with a failure midway: the old directory is still there, untouched.
        WriteFault failThird = failAt(3);
        assertEquals(MoepruneException.FAILED, refused(qwen, mask, out, Pruner.Options.defaults().withForce(true)
                .withFault(failThird).withMaxShardBytes(50_000)).exitCode());
        assertEquals("old", Files.readString(out.resolve("keep-me.txt")));

        Pruner.prune(qwen, mask, out, Pruner.Options.defaults().withForce(true).withMaxShardBytes(5_000_000_000L));
        assertFalse(Files.exists(out.resolve("keep-me.txt")));
        assertTrue(Files.exists(out.resolve("model.safetensors")));
        assertEquals(List.of("mask.json", "out"), PruneFixtures.listing(tmp));
    }

    /** By default no output shard is larger than the input's largest (tensor bytes), so a sharded input stays sharded. */
    @Test
    void defaultShardsAreNoLargerThanTheInputs() throws IOException {
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(qwenSpec, 1), tmp);
        Path out = tmp.resolve("out");
        PruneResult r = Pruner.prune(qwen, mask, out, Pruner.Options.defaults());
        long largestInput = 0, largestOutput = 0;
        try (io.moeprune.safetensors.Checkpoint in = io.moeprune.safetensors.Checkpoint.open(qwen);
             io.moeprune.safetensors.Checkpoint pruned = io.moeprune.safetensors.Checkpoint.open(out)) {
            largestInput = tensorBytesOfLargestShard(in);
            largestOutput = tensorBytesOfLargestShard(pruned);
            assertTrue(pruned.shards().size() > 1, "input has " + in.shards().size() + " shards; output " + pruned.shards().size());
        }
        assertTrue(largestOutput <= largestInput, largestOutput + " > " + largestInput);
        assertTrue(Files.exists(out.resolve("model.safetensors.index.json")));
        try (var files = Files.list(out)) {
            assertEquals(r.shards().size(), files.filter(f -> f.toString().endsWith(".safetensors")).count());
        }
    }

    /** The test's own count (not Pruner's): the largest sum of tensor bytes over a checkpoint's files. */
    private static long tensorBytesOfLargestShard(io.moeprune.safetensors.Checkpoint c) {
        long largest = 0;
        for (var f : c.shards().values()) {
            long sum = 0;
            for (var info : f.tensors().values()) sum += info.byteSize();
            largest = Math.max(largest, sum);
        }
        return largest;
    }

    @Test
    void writeFailingMidwayLeavesNothing() throws IOException {
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(qwenSpec, 2), tmp);
        // Tiny shards: several complete shards exist when the failure hits.
        AtomicInteger seen = new AtomicInteger(), shardsAtFailure = new AtomicInteger();
        WriteFault diskFull = what -> {
            if (what.startsWith("tensor") && seen.incrementAndGet() == 30) {
                try (var files = Files.walk(tmp.resolve("a/b"))) {
                    shardsAtFailure.set((int) files.filter(p -> p.toString().endsWith(".safetensors.partial")).count());
                }
                throw new IOException("No space left on device");
            }
        };
        MoepruneException e = refused(qwen, mask, tmp.resolve("a/b/out"),
                Pruner.Options.defaults().withFault(diskFull).withMaxShardBytes(20_000));
        assertEquals(MoepruneException.FAILED, e.exitCode());
        // About the output the user named, not the writer's temporary shard (gone by the time anyone reads this).
        assertEquals(tmp.resolve("a/b/out") + ": cannot write: No space left on device", e.getMessage());
        assertFalse(Files.exists(tmp.resolve("a")), "created parent directories left behind");
        assertTrue(shardsAtFailure.get() >= 2, "the failure should hit after complete shards: " + shardsAtFailure);
    }

    @Test
    void failureWhileCopyingOtherFilesLeavesNothing() throws IOException {
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(qwenSpec, 3), tmp);
        WriteFault diskFull = what -> {
            if (what.equals("file generation_config.json")) throw new IOException("No space left on device");
        };
        MoepruneException e = refused(qwen, mask, tmp.resolve("out"), Pruner.Options.defaults().withFault(diskFull));
        assertTrue(e.getMessage().startsWith(tmp.resolve("out") + ": cannot write: No space left on device"), e.getMessage());
    }

    @Test
    void injectedFaultThatNeverFiresStillWritesTheSameModel() throws IOException {
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(qwenSpec, 4), tmp);
        Pruner.prune(qwen, mask, tmp.resolve("plain"), Pruner.Options.defaults());
        Pruner.prune(qwen, mask, tmp.resolve("faulty"), Pruner.Options.defaults().withFault(what -> {
        }));
        // moeprune.json records when each was made; every other file is the same byte for byte.
        Map<String, String> plain = PruneFixtures.hashes(tmp.resolve("plain")), faulty = PruneFixtures.hashes(tmp.resolve("faulty"));
        assertNotNull(plain.remove("moeprune.json"));
        assertNotNull(faulty.remove("moeprune.json"));
        assertEquals(plain, faulty);
    }

    @Test
    void outputInsideOrAboveTheModelIsRefused() throws IOException {
        Path model = tmp.resolve("model");
        copyDir(qwen, model);
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(qwenSpec, 5), tmp);
        assertTrue(refused(model, mask, model.resolve("pruned"), Pruner.Options.defaults()).getMessage()
                .contains("inside the model directory"));
        assertTrue(refused(model, mask, tmp, Pruner.Options.defaults().withForce(true)).getMessage()
                .contains("is the model directory or contains it"));
        assertTrue(refused(model, mask, model, Pruner.Options.defaults().withForce(true)).getMessage()
                .contains("is the model directory or contains it"));
    }

    @Test
    void maxShardSizeParsesLikeTransformers() {
        assertEquals(5_000_000_000L, ByteSize.parse("5GB"));
        assertEquals(5L << 30, ByteSize.parse("5GiB"));
        assertEquals(500_000_000L, ByteSize.parse("500MB"));
        assertEquals(1234, ByteSize.parse("1234"));
        assertThrows(MoepruneException.class, () -> ByteSize.parse("big"));
    }

    /** Subdirectories of the model are copied level by level (never re-creating a removed staging directory). */
    @Test
    void nestedAuxiliaryFilesAreCopied() throws IOException {
        Path model = tmp.resolve("model");
        copyDir(qwen, model);
        Files.createDirectories(model.resolve("docs/deeper"));
        Files.writeString(model.resolve("docs/deeper/notes.txt"), "kept");
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(qwenSpec, 5), tmp);
        Pruner.prune(model, mask, tmp.resolve("out"), Pruner.Options.defaults());
        assertEquals("kept", Files.readString(tmp.resolve("out/docs/deeper/notes.txt")));
    }

    private static WriteFault failAt(int n) {
        AtomicInteger c = new AtomicInteger();
        return what -> {
            if (c.incrementAndGet() == n) throw new IOException("No space left on device");
        };
    }

    static void copyDir(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var s = Files.list(from)) {
            for (Path p : s.toList()) Files.copy(p, to.resolve(p.getFileName()));
        }
    }

}
