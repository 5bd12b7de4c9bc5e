package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.kernels.Weights;
import io.moeprune.runtime.Model;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SortedMap;

/**
 * The embedding table on the device beside the resident weights ({@link ResidentWeights}), so that a pass uploads 4
 * bytes of token id a token instead of its 4·hidden bytes of embedding, and nothing is looked up on the host
 * ({@link DeviceOps#embedRows}). Its rows widen to exactly what {@code Model.embed} reads: a BF16 table as stored (a
 * tied one shares the LM head's copy, the same bits), any other in F32 (F16 and F32 widen exactly; a BF16 copy would
 * round them). Token ids are checked on the host as the CPU checks them, sequence by sequence: outside the vocabulary,
 * then against the rows whose scaled values are not finite, found once when the table is uploaded
 * ({@link Model#nonFiniteEmbeddingRows}): the CPU's one-line errors, in its order.
 */
final class EmbeddingTable implements AutoCloseable {
    private final DeviceOps ops;
    private final Model model;
    private final int hidden;
    private final boolean bf16, owned;
    private final DeviceBuffer table;
    private final SortedMap<Integer, Boolean> nonFinite;

    /** Device bytes of the table's own copy: 0 when it shares a tied BF16 LM head's. */
    static long bytes(Model model) {
        Tensor t = model.embedding();
        if (sharesHead(model)) return 0;
        return (t.dtype() == DType.BF16 ? 2L : 4L) * t.elementCount() + MemoryPlan.ROUNDING;
    }

    /** Whether the LM head is the embedding table itself (tied) stored in BF16: its resident copy has the same bits. */
    private static boolean sharesHead(Model model) {
        Tensor t = model.embedding();
        Weights head = model.lmHead().weights();
        return t.dtype() == DType.BF16 && head.dtype() == DType.BF16 && head.data().address() == t.data().address()
                && head.data().byteSize() == t.data().byteSize();
    }

    /** The table uploaded now through {@code staging} (pinned), or the tied {@code head}'s copy. */
    EmbeddingTable(DeviceOps ops, Model model, LmHeadStep head, MemorySegment staging) {
        this.ops = ops;
        this.model = model;
        this.hidden = model.spec().hiddenSize();
        this.nonFinite = model.nonFiniteEmbeddingRows();
        this.owned = !sharesHead(model);
        this.bf16 = model.embedding().dtype() == DType.BF16;
        this.table = owned ? ops.alloc(bytes(model) - MemoryPlan.ROUNDING, "the embedding table") : head.weights();
        if (!owned) return;
        try {
            upload(staging);
        } catch (RuntimeException | InternalError e) {   // InternalError: a fault in a mapped read (the caller explains)
            ops.free(table);
            throw e;
        }
    }

    /** Blocks of rows through the staging buffer: BF16 bytes as stored, anything else widened to F32. */
    private void upload(MemorySegment staging) {
        Tensor t = model.embedding();
        long vocab = t.shape()[0], rowBytes = (bf16 ? 2L : 4L) * hidden;
        long rowsPerBlock = Math.max(1, Math.min(vocab, staging.byteSize() / rowBytes));
        float[] row = new float[hidden];
        for (long r0 = 0; r0 < vocab; r0 += rowsPerBlock) {
            long r1 = Math.min(vocab, r0 + rowsPerBlock);
            MemorySegment block = staging.asSlice(0, (r1 - r0) * rowBytes);
            if (bf16) {
                MemorySegment.copy(t.data(), r0 * rowBytes, block, 0, block.byteSize());
            } else {
                for (long r = r0; r < r1; r++) {
                    t.readFloats(r * hidden, row, 0, hidden);
                    MemorySegment.copy(row, 0, block, ValueLayout.JAVA_FLOAT_UNALIGNED, (r - r0) * rowBytes, hidden);
                }
            }
            ops.upload(block, table, r0 * rowBytes);
            ops.synchronize();   // the staging buffer is refilled next
        }
    }

    /**
     * Throws the CPU's error for the first sequence (in the order given) that {@code Model.embed} would refuse: a token
     * id outside the vocabulary, else the first token whose embedding is not finite (its position in the sequence).
     */
    void check(List<int[]> sequences) {
        for (int[] s : sequences) {
            model.requireInVocabulary(s);
            if (nonFinite.isEmpty()) continue;
            for (int t = 0; t < s.length; t++) {
                Boolean nan = nonFinite.get(s[t]);
                if (nan != null) throw model.nonFiniteEmbedding(nan, t);
            }
        }
    }

    /** Queues the embeddings of {@code count} tokens (ids int32 on the device, {@link #check}ed) into dst's rows. */
    void lookUp(DeviceBuffer ids, int count, DeviceBuffer dst, long dstOffset) {
        ops.embedRows(table, bf16, ids, count, hidden, model.spec().scaling().embedding(), dst, dstOffset);
    }

    @Override
    public void close() {
        if (owned && table != null) ops.free(table);
    }
}
