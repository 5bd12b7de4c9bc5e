package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceArrays;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.inspect.CheckpointEdits;
import io.moeprune.model.ConfigReader;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PrefillPass;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.safetensors.SafetensorsFile;
import io.moeprune.safetensors.TensorInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The pass's embeddings looked up on the device over resident weights ({@link EmbeddingTable}, HostOps): the rows
 * are {@code Model.embed}'s floats for BF16, F16 and F32 tables, with GraniteMoE's multiplier, tied or not (a tied
 * BF16 table takes no bytes of its own); the resident pass gives the streamed pass's logits (host embeddings) while
 * looking its embeddings up on the device; an id outside the vocabulary and a non-finite embedding are the CPU pass's
 * one-line errors, in its order.
 */
class DeviceEmbeddingsTest {
    private static final long BOUND = 1L << 30;

    @TempDir
    Path tmp;

    private static Path fixture(String name) {
        return GpuLayerMajorPassTest.FIXTURES.resolve(name);
    }

    /** GraniteMoE (BF16, embedding multiplier 12) with tied embeddings: its LM head is its embedding table. */
    private Path tiedGranite() throws IOException {
        Path dir = CheckpointEdits.copyWithHeader(fixture("granitemoe"), tmp.resolve("tied"), h -> { });
        Path config = dir.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"tie_word_embeddings\": false",
                "\"tie_word_embeddings\": true"));
        return dir;
    }

    private Path dir(String name) throws IOException {
        return name.equals("tied granitemoe") ? tiedGranite() : fixture(name);
    }

    /** HostOps counting its embedRows calls. */
    private static DeviceOps counting(HostOps host, AtomicInteger lookUps) {
        return (DeviceOps) Proxy.newProxyInstance(DeviceOps.class.getClassLoader(), new Class<?>[]{DeviceOps.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("embedRows")) lookUps.incrementAndGet();
                    try {
                        return method.invoke(host, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "granitemoe", "tied granitemoe", "qwen3_moe_f32", "mixtral"})
    void theTableGivesTheCpusEmbeddings(String name) throws IOException {
        try (Model model = Models.open(dir(name)); HostOps ops = new HostOps(BOUND);
             ResidentModel resident = new ResidentModel(ops, BOUND); Arena arena = Arena.ofConfined()) {
            long vocab = model.spec().vocabSize(), hidden = model.spec().hiddenSize();
            long own = switch (name) {
                case "tied granitemoe" -> 0;   // the LM head's copy, the same bits
                case "qwen3_moe_f32", "mixtral" -> 4 * vocab * hidden + MemoryPlan.ROUNDING;   // F32 and F16 widened
                default -> 2 * vocab * hidden + MemoryPlan.ROUNDING;
            };
            assertEquals(own, EmbeddingTable.bytes(model), name);
            EmbeddingTable table = resident.upload(model).embeddings();
            int[] tokens = PassComparison.randomSequences((int) vocab, 300).getFirst();
            tokens[0] = 0;
            tokens[1] = (int) vocab - 1;
            DeviceBuffer ids = DeviceArrays.upload(ops, arena,
                    java.lang.foreign.MemorySegment.ofArray(tokens), "ids");
            DeviceBuffer rows = ops.alloc(4L * (tokens.length + 1) * hidden, "rows");
            table.lookUp(ids, tokens.length, rows, 4 * hidden);
            float[] got = DeviceArrays.floats(ops, arena, rows, (tokens.length + 1) * (int) hidden);
            assertArrayEquals(model.embed(tokens, 0),
                    java.util.Arrays.copyOfRange(got, (int) hidden, got.length), name);
            ops.free(ids);
            ops.free(rows);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tied granitemoe", "qwen3_moe_f32", "mixtral", "olmoe"})
    void theResidentPassLooksUpOnTheDeviceWithTheStreamedPassesLogits(String name) throws IOException {
        AtomicInteger lookUps = new AtomicInteger();
        try (Model model = Models.open(dir(name)); HostOps host = new HostOps(BOUND);
             ResidentModel resident = new ResidentModel(counting(host, lookUps), BOUND)) {
            DeviceOps ops = counting(host, lookUps);
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 1, 17, 5);
            float[][] streamed = logits(new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops,
                    BOUND), seqs);
            assertEquals(0, lookUps.get(), "the streamed pass embeds on the host");
            float[][] onDevice = logits(new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops,
                    BOUND, resident), seqs);
            assertEquals(1, resident.uploads());
            assertEquals(1, lookUps.get(), "one chunk, one lookup");
            for (int s = 0; s < seqs.size(); s++) assertArrayEquals(streamed[s], onDevice[s], name + " sequence " + s);
        }
    }

    private static float[][] logits(PrefillPass pass, List<int[]> seqs) {
        float[][] out = new float[seqs.size()][];
        pass.run(seqs, null, (s, l) -> out[s] = l, LayerMajorListener.NONE);
        return out;
    }

    /**
     * GraniteMoE (multiplier 12) with row 7 holding a NaN at element 5, and row 9 a finite 1.7e38 at element 3 (an
     * infinity once scaled) before a NaN at element 10.
     */
    private Path nonFiniteGranite() throws IOException {
        Path dir = CheckpointEdits.copyWithHeader(fixture("granitemoe"), tmp.resolve("nan"), h -> { });
        Path file = dir.resolve("model.safetensors");
        long at;
        int hidden;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            TensorInfo info = f.tensors().get("model.embed_tokens.weight");
            at = f.dataStart() + info.begin();
            hidden = (int) info.shape()[1];
        }
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            for (long[] w : new long[][]{{7, 5, 0x7FC0}, {9, 3, 0x7F00}, {9, 10, 0x7FC0}}) {
                raf.seek(at + 2 * (w[0] * hidden + w[1]));
                raf.write(new byte[]{(byte) w[2], (byte) (w[2] >> 8)});   // BF16, little-endian
            }
        }
        return dir;
    }

    /** The message of the error a pass throws on {@code seqs}. */
    private static String error(PrefillPass pass, List<int[]> seqs) {
        return assertThrows(MoepruneException.class,
                () -> pass.run(seqs, null, (s, l) -> { }, LayerMajorListener.NONE)).getMessage();
    }

    @Test
    void outOfVocabularyAndNonFiniteEmbeddingsAreTheCpusErrors() throws IOException {
        Path dir = nonFiniteGranite();
        AtomicInteger lookUps = new AtomicInteger();
        try (Model model = Model.load(dir, ConfigReader.read(dir)); HostOps host = new HostOps(BOUND);
             ResidentModel resident = new ResidentModel(counting(host, lookUps), BOUND)) {
            DeviceOps ops = counting(host, lookUps);
            int vocab = model.spec().vocabSize();
            List<List<int[]>> cases = List.of(
                    List.of(new int[]{1, 2, 3}, new int[]{4, 9, 7}),          // row 9 first: infinite at position 1
                    List.of(new int[]{1, 2, 3}, new int[]{4, 7, 9}),          // row 7 first: NaN
                    List.of(new int[]{1, vocab, 3}, new int[]{7}),            // outside the vocabulary
                    List.of(new int[]{1, -1}),
                    List.of(new int[]{5, 5, 9}, new int[]{vocab + 3}));      // the first sequence's error first
            String[] expected = {
                    dir + ": an infinite value appeared in the embeddings at token position 1: corrupt weights or config.json values",
                    dir + ": NaN appeared in the embeddings at token position 1: corrupt weights or config.json values",
                    "token id " + vocab + " is outside the vocabulary of " + vocab,
                    "token id -1 is outside the vocabulary of " + vocab,
                    dir + ": an infinite value appeared in the embeddings at token position 2: corrupt weights or config.json values"};
            for (int i = 0; i < cases.size(); i++) {
                List<int[]> seqs = cases.get(i);
                assertEquals(expected[i], error(PrefillPasses.CPU.create(model, ExpertMask.NONE,
                        LayerMajorPass.Logits.LAST), seqs), "cpu, case " + i);
                assertEquals(expected[i], error(new GpuLayerMajorPass(model, ExpertMask.NONE,
                        LayerMajorPass.Logits.LAST, ops, BOUND), seqs), "streamed, case " + i);
                assertEquals(expected[i], error(new GpuLayerMajorPass(model, ExpertMask.NONE,
                        LayerMajorPass.Logits.LAST, ops, BOUND, resident), seqs), "resident, case " + i);
            }
            assertEquals(1, resident.uploads(), "the resident passes checked against the resident table");
            assertEquals(0, lookUps.get(), "nothing was looked up");
            // The rows that are finite still run.
            new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.LAST, ops, BOUND, resident)
                    .run(List.of(new int[]{1, 2, 3}), null, (s, l) -> { }, LayerMajorListener.NONE);
            assertEquals(1, lookUps.get());
        }
    }
    /** The streamed pass's host lookup: sequences on four threads into pinned memory, the same rows, the first error. */
    @Test
    void hostEmbeddingsOnSeveralThreadsAreTheModelsAndTheFirstSequencesError() {
        try (Model model = Models.open(fixture("granitemoe")); HostOps ops = new HostOps(BOUND);
             StagingPool pool = new StagingPool(4); Arena arena = Arena.ofConfined()) {
            int vocab = model.spec().vocabSize(), hidden = model.spec().hiddenSize();
            List<int[]> seqs = PassComparison.randomSequences(vocab, 9, 1, 40, 17, 5, 33);
            long[] firstRow = new long[seqs.size() + 1];
            for (int c = 0; c < seqs.size(); c++) firstRow[c + 1] = firstRow[c] + seqs.get(c).length;
            int tokens = (int) firstRow[seqs.size()];
            for (boolean onDevice : new boolean[]{true, false}) {
                try (Residuals residuals = new Residuals(ops, tokens, hidden, onDevice)) {
                    residuals.fill(firstRow, c -> model.embed(seqs.get(c), 0), pool);
                    DeviceBuffer scratch = ops.alloc(4L * tokens * hidden, "rows");
                    float[] got = DeviceArrays.floats(ops, arena, residuals.rows(0, tokens, scratch), tokens * hidden);
                    for (int c = 0; c < seqs.size(); c++) {
                        assertArrayEquals(model.embed(seqs.get(c), 0), java.util.Arrays.copyOfRange(got,
                                (int) firstRow[c] * hidden, (int) firstRow[c + 1] * hidden), "sequence " + c);
                    }
                    ops.free(scratch);
                    List<int[]> bad = new java.util.ArrayList<>(seqs);
                    bad.set(2, new int[]{3, vocab + 2});
                    bad.set(4, new int[]{-5});
                    MoepruneException e = assertThrows(MoepruneException.class,
                            () -> residuals.fill(firstRow, c -> model.embed(bad.get(c), 0), pool));
                    assertEquals("token id " + (vocab + 2) + " is outside the vocabulary of " + vocab, e.getMessage());
                }
            }
        }
    }
}
