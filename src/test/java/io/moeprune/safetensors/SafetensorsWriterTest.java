package io.moeprune.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsWriterTest {
    static final Path CONFORMANCE = ConformanceReadTest.CONFORMANCE;

    @TempDir
    Path tmp;

    static byte[] bytes(Tensor t) {
        return t.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** Copies every tensor of a checkpoint and checks the copy tensor by tensor, byte for byte. */
    Checkpoint roundTrip(String family, long maxShard, Path out) {
        try (Checkpoint src = Checkpoint.open(CONFORMANCE.resolve(family));
             SafetensorsWriter w = new SafetensorsWriter(out, maxShard, Map.of("format", "pt"))) {
            for (String n : src.names()) w.copy(src, n);
            SafetensorsWriter.Result r = w.finish();
            long total = 0;
            for (String n : src.names()) total += src.info(n).byteSize();
            assertEquals(total, r.totalSize());
            Checkpoint copy = Checkpoint.open(out);
            assertEquals(src.names().stream().sorted().toList(), copy.names().stream().sorted().toList());
            for (String n : src.names()) {
                assertEquals(src.info(n).dtype(), copy.info(n).dtype());
                assertArrayEquals(src.info(n).shape(), copy.info(n).shape());
                assertArrayEquals(bytes(src.tensor(n)), bytes(copy.tensor(n)), n);
            }
            return copy;
        }
    }

    @Test
    void shardedRoundTripRespectsTheBoundAndWritesTheIndex() throws IOException {
        Path out = tmp.resolve("out");
        long bound = 100_000;
        try (Checkpoint copy = roundTrip("deepseek_v3", bound, out)) {
            int n = copy.shards().size();
            assertTrue(n >= 6, "636 KB in 100 KB shards: " + n);
            List<String> expected = new ArrayList<>();
            for (int i = 1; i <= n; i++) expected.add(String.format("model-%05d-of-%05d.safetensors", i, n));
            expected.add(Checkpoint.INDEX);
            assertEquals(expected.stream().sorted().toList(), listing(out));
            long total = 0;
            for (SafetensorsFile f : copy.shards().values()) {
                long data = f.fileSize() - f.dataStart();
                assertTrue(data <= bound, f.path() + " holds " + data + " bytes");
                assertEquals(0, f.dataStart() % 8, "header padded to 8 bytes");
                assertEquals(Map.of("format", "pt"), f.metadata());
                for (TensorInfo t : f.tensors().values()) {
                    total += t.byteSize();
                    assertEquals(0, (f.dataStart() + t.begin()) % t.dtype().byteSize(), t + " aligned");
                }
            }
            assertEquals("636320", copy.indexMetadata().get("total_size"));
            assertEquals(636320, total);
            JsonNode index = SafetensorsFile.JSON.readTree(Files.readString(out.resolve(Checkpoint.INDEX)));
            assertEquals(copy.names().size(), index.get("weight_map").size());
            // Reads through the logical view just as the original does.
            try (Checkpoint src = Checkpoint.open(CONFORMANCE.resolve("deepseek_v3"))) {
                assertArrayEquals(src.logical().get("lm_head.weight").toFloatArray(),
                        copy.logical().get("lm_head.weight").toFloatArray());
            }
        }
    }

    @Test
    void oneShardIsModelSafetensorsWithoutIndex() throws IOException {
        Path out = tmp.resolve("single");
        try (Checkpoint copy = roundTrip("qwen3_moe", SafetensorsWriter.DEFAULT_MAX_SHARD_BYTES, out)) {
            assertEquals(List.of(Checkpoint.SINGLE), listing(out));
            assertEquals(Map.of("format", "pt"), copy.shards().get(Checkpoint.SINGLE).metadata());
        }
    }

    @Test
    void quantisedPairsCopyUnchanged() {
        try (Checkpoint copy = roundTrip("deepseek_v3_fp8", 50_000, tmp.resolve("fp8"));
             Checkpoint src = Checkpoint.open(CONFORMANCE.resolve("deepseek_v3_fp8"))) {
            String w = "model.layers.1.mlp.experts.3.up_proj.weight";
            assertArrayEquals(src.logical().get(w).toFloatArray(), copy.logical().get(w).toFloatArray());
        }
    }

    @Test
    void tensorLargerThanTheBoundGetsItsOwnShard() throws IOException {
        Path out = tmp.resolve("big");
        try (SafetensorsWriter w = new SafetensorsWriter(out, 100, Map.of())) {
            w.addFloats("small1", DType.F32, new long[]{5}, new float[]{1, 2, 3, 4, 5});
            w.addFloats("huge", DType.F32, new long[]{50}, new float[50]);
            w.addFloats("small2", DType.F32, new long[]{5}, new float[5]);
            w.addFloats("small3", DType.F32, new long[]{5}, new float[5]);
            SafetensorsWriter.Result r = w.finish();
            assertEquals(3, r.shards().size());
            assertEquals("model-00002-of-00003.safetensors", r.weightMap().get("huge"));
            assertEquals("model-00003-of-00003.safetensors", r.weightMap().get("small3"));
            assertEquals(260, r.totalSize());
        }
        try (Checkpoint c = Checkpoint.open(out)) {
            assertArrayEquals(new float[]{1, 2, 3, 4, 5}, c.tensor("small1").toFloatArray());
            assertTrue(c.shards().get("model-00001-of-00003.safetensors").metadata().isEmpty());
        }
    }

    @Test
    void selectedRowsAndMemoryTensors() throws IOException {
        Path out = tmp.resolve("pruned");
        String router = "model.layers.2.mlp.gate.weight", name = "model.layers.0.mlp.experts.gate_up_proj";
        int[] keep = {5, 1, 2, 3, 7};
        try (Checkpoint src = Checkpoint.open(CONFORMANCE.resolve("qwen3_moe"));
             Checkpoint oss = Checkpoint.open(CONFORMANCE.resolve("gpt_oss"));
             SafetensorsWriter w = new SafetensorsWriter(out, 1 << 20, Map.of("format", "pt"))) {
            w.copyDim0(src, router, router, keep);
            w.copyDim0(oss, name, "fused", keep);
            w.addFloats("bf16", DType.BF16, new long[]{2, 2}, new float[]{1.5f, -2f, 3.00390625f, 0f});
            ByteBuffer ints = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(7).putLong(-9).flip();
            w.add("ints", DType.I64, new long[]{2}, ints);
            w.add("gen", DType.U8, new long[]{3}, new TensorSource.Generated(3, ch -> ch.write(ByteBuffer.wrap(new byte[]{9, 8, 7}))));
            w.finish();

            try (Checkpoint c = Checkpoint.open(out)) {
                Tensor r = src.tensor(router), rr = c.tensor(router);
                long cols = r.shape()[1];
                assertArrayEquals(new long[]{5, cols}, rr.shape());
                float[] all = r.toFloatArray(), got = rr.toFloatArray();
                for (int i = 0; i < keep.length; i++)
                    for (int k = 0; k < cols; k++) assertEquals(all[(int) (keep[i] * cols + k)], got[(int) (i * cols + k)]);
                Tensor f = c.tensor("fused"), fs = oss.tensor(name);
                assertEquals(5, f.shape()[0]);
                long slice = fs.info().byteSize() / fs.shape()[0];
                for (int i = 0; i < keep.length; i++) {
                    assertArrayEquals(fs.data().asSlice(keep[i] * slice, slice).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                            f.data().asSlice(i * slice, slice).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                }
                // 3.00390625 is halfway between two BF16 values: round to even gives 3.0.
                assertArrayEquals(new float[]{1.5f, -2f, 3f, 0f}, c.tensor("bf16").toFloatArray());
                assertArrayEquals(new long[]{7, -9}, c.tensor("ints").toLongArray());
                assertArrayEquals(new long[]{9, 8, 7}, c.tensor("gen").toLongArray());
            }
        }
    }

    @Test
    void logicalTensorsCopyWithTheirCompanions() {
        Path out = tmp.resolve("logical");
        int[] keep = {2, 0};
        try (Checkpoint mx = Checkpoint.openFile(QuantizedReadTest.QUANTIZED.resolve("mxfp4.safetensors"));
             Checkpoint fp8 = Checkpoint.openFile(QuantizedReadTest.QUANTIZED.resolve("fp8.safetensors"));
             SafetensorsWriter w = new SafetensorsWriter(out, 1 << 20, Map.of("format", "pt"))) {
            LogicalTensor experts = mx.logical().get("model.layers.0.mlp.experts.gate_up_proj");
            w.copyDim0(mx, experts, "kept.gate_up_proj", keep);
            LogicalTensor weight = fp8.logical().get("model.layers.0.mlp.experts.0.up_proj.weight");
            w.copy(fp8, weight, "renamed.weight");
            w.finish();
            try (Checkpoint c = Checkpoint.open(out)) {
                assertEquals(List.of("kept.gate_up_proj", "renamed.weight"),
                        c.logical().names().stream().sorted().toList());
                LogicalTensor k = c.logical().get("kept.gate_up_proj");
                assertArrayEquals(new long[]{2, 10, 64}, k.shape());
                float[] all = experts.toFloatArray(), got = k.toFloatArray();
                int per = 10 * 64;
                for (int i = 0; i < keep.length; i++) {
                    assertArrayEquals(Arrays.copyOfRange(all, keep[i] * per, keep[i] * per + per),
                            Arrays.copyOfRange(got, i * per, i * per + per));
                }
                assertArrayEquals(weight.toFloatArray(), c.logical().get("renamed.weight").toFloatArray());
                assertTrue(c.has("renamed.weight_scale_inv"));
            }
        }
    }

    @Test
    void failureRemovesPartialFiles() throws IOException {
        Path out = tmp.resolve("failed");
        try (Checkpoint src = Checkpoint.open(CONFORMANCE.resolve("qwen3_moe"))) {
            SafetensorsWriter w = new SafetensorsWriter(out, 20_000, Map.of("format", "pt"));
            List<String> names = new ArrayList<>(src.names());
            for (String n : names.subList(0, names.size() / 2)) w.copy(src, n);
            assertFalse(listing(out).isEmpty(), "some shards were written already");
            // A producer that writes too few bytes fails the shard; everything written so far goes.
            w.add("broken", DType.U8, new long[]{4_000_000}, new TensorSource.Generated(4_000_000, ch -> ch.write(ByteBuffer.allocate(10))));
            assertThrows(IllegalStateException.class, () -> w.add("next", DType.U8, new long[]{1}, ByteBuffer.allocate(1)));
            assertEquals(List.of(), listing(out));
            w.close();
        }
        // Closing without finish() also cleans up.
        Path out2 = tmp.resolve("abandoned");
        try (Checkpoint src = Checkpoint.open(CONFORMANCE.resolve("qwen3_moe"));
             SafetensorsWriter w = new SafetensorsWriter(out2, 20_000, Map.of())) {
            for (String n : src.names()) w.copy(src, n);
        }
        assertEquals(List.of(), listing(out2));
    }

    /** Writes every tensor of deepseek_v3 (and one made in memory) in 50 kB shards, {@code parallel} at once. */
    private static void writeAll(Path out, int parallel) {
        try (Checkpoint src = Checkpoint.open(CONFORMANCE.resolve("deepseek_v3"));
             SafetensorsWriter w = new SafetensorsWriter(out, 50_000, Map.of("format", "pt")).parallelShards(parallel)) {
            List<String> names = new ArrayList<>(src.names());
            for (int i = 0; i < names.size(); i++) {
                w.copy(src, names.get(i));
                if (i == names.size() / 2) w.addFloats("made.in.memory", DType.F32, new long[]{3}, new float[]{1, 2, 3});
            }
            w.finish();
        }
    }

    @Test
    void parallelShardsWriteTheSameFilesByteForByte() throws IOException {
        Path serial = tmp.resolve("serial"), parallel = tmp.resolve("parallel");
        writeAll(serial, 1);
        writeAll(parallel, 3);
        List<String> files = listing(serial);
        assertTrue(files.size() >= 12, "636 KB in 50 kB shards: " + files);
        assertEquals(files, listing(parallel));
        for (String f : files) {
            assertArrayEquals(Files.readAllBytes(serial.resolve(f)), Files.readAllBytes(parallel.resolve(f)), f);
        }
    }

    @Test
    void backgroundShardFailureRemovesEverything() throws IOException {
        Path out = tmp.resolve("failed");
        try (Checkpoint src = Checkpoint.open(CONFORMANCE.resolve("deepseek_v3"))) {
            SafetensorsWriter w = new SafetensorsWriter(out, 20_000, Map.of("format", "pt")).parallelShards(2);
            List<String> names = new ArrayList<>(src.names());
            for (String n : names.subList(0, names.size() / 2)) w.copy(src, n);
            // A producer that writes too few bytes fails its shard on a background thread; the failure surfaces at
            // the next add or at finish, and every file goes.
            w.add("broken", DType.U8, new long[]{30_000}, new TensorSource.Generated(30_000, ch -> ch.write(ByteBuffer.allocate(10))));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> {
                for (String n : names.subList(names.size() / 2, names.size())) w.copy(src, n);
                w.finish();
            });
            assertTrue(e.getMessage().contains("broken"), e.getMessage());
            assertEquals(List.of(), listing(out));
            w.close();
        }
        // An I/O error on a background thread (source shorter than its ranges) is the one-line "cannot write".
        assertSourceShorterThanItsRangesFails(tmp.resolve("out2"), 1, 2);
    }

    @Test
    void sourceChangedUnderneathIsAnError() throws IOException {
        assertSourceShorterThanItsRangesFails(tmp.resolve("out"), 1 << 20, 1);
    }

    /** A tensor whose byte range lies past the end of its source file: "cannot write", exit FAILED, nothing left. */
    private void assertSourceShorterThanItsRangesFails(Path out, long shardBytes, int parallelShards) throws IOException {
        Path srcDir = Files.createDirectories(tmp.resolve("src"));
        Files.write(srcDir.resolve("model.safetensors"), RawFiles.valid());
        try (Checkpoint src = Checkpoint.open(srcDir);
             SafetensorsWriter w = new SafetensorsWriter(out, shardBytes, Map.of()).parallelShards(parallelShards)) {
            w.copy(src, "a");
            w.add("raw", DType.U8, new long[]{100}, new TensorSource.FileRanges(srcDir.resolve("model.safetensors"),
                    new long[]{Files.size(srcDir.resolve("model.safetensors"))}, new long[]{100}));
            MoepruneException e = assertThrows(MoepruneException.class, w::finish);
            assertTrue(e.getMessage().contains("cannot write"), e.getMessage());
            assertEquals(MoepruneException.FAILED, e.exitCode());
        }
        assertEquals(List.of(), listing(out));
    }

    @Test
    void refusesADirectoryThatHoldsWeights() throws IOException {
        Path out = Files.createDirectories(tmp.resolve("used"));
        Files.write(out.resolve("model.safetensors"), RawFiles.valid());
        assertThrows(MoepruneException.class, () -> new SafetensorsWriter(out, 1000, Map.of()));
    }

    @Test
    void rejectsMismatchedSizesAndDuplicates() {
        try (SafetensorsWriter w = new SafetensorsWriter(tmp.resolve("x"), 1000, Map.of())) {
            assertThrows(IllegalArgumentException.class,
                    () -> w.add("a", DType.F32, new long[]{3}, ByteBuffer.allocate(8)));
            w.add("a", DType.F32, new long[]{2}, ByteBuffer.allocate(8));
            assertThrows(IllegalArgumentException.class,
                    () -> w.add("a", DType.F32, new long[]{2}, ByteBuffer.allocate(8)));
        }
    }

    @Test
    void emptyCheckpointIsOneFileWithMetadata() throws IOException {
        Path out = tmp.resolve("empty");
        try (SafetensorsWriter w = SafetensorsWriter.create(out)) {
            w.finish();
        }
        try (SafetensorsFile f = SafetensorsFile.open(out.resolve(Checkpoint.SINGLE))) {
            assertTrue(f.tensors().isEmpty());
            assertEquals("pt", f.metadata().get("format"));
        }
    }

    @Test
    void bf16RoundingMatchesTorch() {
        assertEquals((short) 0x3f80, SafetensorsWriter.toBf16(1f));
        assertEquals((short) 0x3f81, SafetensorsWriter.toBf16(Float.intBitsToFloat(0x3f80c000)));  // above half: up
        assertEquals((short) 0x3f80, SafetensorsWriter.toBf16(Float.intBitsToFloat(0x3f808000)));  // tie: even
        assertEquals((short) 0x3f82, SafetensorsWriter.toBf16(Float.intBitsToFloat(0x3f818000)));  // tie: even
        assertTrue(Float.isNaN(Float.intBitsToFloat(SafetensorsWriter.toBf16(Float.NaN) << 16)));
        assertEquals(Float.POSITIVE_INFINITY, Float.intBitsToFloat(SafetensorsWriter.toBf16(Float.MAX_VALUE) << 16));
    }
}
