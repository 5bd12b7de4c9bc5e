package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.runtime.Model;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A whole model's weights on the device, for generation (decoding reads every layer for every token, so no layer can
 * stream) and for the layer-major passes of a model that fits ({@link ResidentModel} keeps them for a session): each
 * layer's slot in the layout the layer-major pass streams ({@link SlotLayout} of {@link LayerPlan#of}, the same
 * offsets for the same model, so the pass's steps read a resident slot as a streamed one), staged from the mapped
 * checkpoint through one pinned buffer by a {@link StagingPool}, FP8/MXFP4 dequantised on the device once; then the
 * final norm and the LM head ({@link LmHeadStep}, up to {@link #LOGIT_ROWS} rows of logits at a time) and the
 * embedding table ({@link EmbeddingTable}: the passes look their embeddings up on the device).
 */
final class ResidentWeights implements AutoCloseable {
    /** Rows of logits the LM head computes at once (a batched decode step's sequences). */
    static final int LOGIT_ROWS = 64;

    private final DeviceOps ops;
    private final List<DeviceBuffer> slots = new ArrayList<>();
    private final LmHeadStep head;
    private final EmbeddingTable embeddings;

    /**
     * Device bytes of the weights: every layer's slot, the LM head and {@link #LOGIT_ROWS} rows of its activations, the
     * embedding table.
     */
    static long bytes(Model model, List<LayerPlan> layers) {
        long b = 0;
        for (LayerPlan l : layers) b += l.layout().bytes() + MemoryPlan.ROUNDING;
        long hidden = model.spec().hiddenSize(), vocab = model.lmHead().weights().rows();
        return b + 2 * vocab * hidden + 4 * hidden + LOGIT_ROWS * (6 * hidden + 4 * vocab) + 8 * MemoryPlan.ROUNDING
                + EmbeddingTable.bytes(model);
    }

    ResidentWeights(DeviceOps ops, Model model, List<LayerPlan> layers, HostTransfers io, long bound) {
        this.ops = ops;
        MemorySegment staging = ops.pinnedHost(WeightStream.stagingBytes(layers));
        try (StagingPool pool = new StagingPool()) {
            for (LayerPlan l : layers) {
                DeviceBuffer slot = ops.alloc(l.layout().bytes(), "layer " + l.index() + "'s weights");
                slots.add(slot);
                pool.stage(l.layout(), staging);
                for (SlotLayout.Upload run : l.layout().packedUploads()) {   // the staged ranges only, as WeightStream
                    ops.upload(staging.asSlice(run.stagingOffset(), run.bytes()), slot, run.slotOffset());
                }
                ops.synchronize();   // the staging buffer is refilled next
                l.layout().dequantize(ops, slot);
            }
            head = new LmHeadStep(ops, model, staging, io, true, LOGIT_ROWS, bound);
            ops.synchronize();   // the head's last copy read the staging buffer
            embeddings = new EmbeddingTable(ops, model, head, staging);
        } catch (RuntimeException e) {
            close();
            throw e;
        } finally {
            ops.releasePinned(staging);
        }
    }

    /** Layer {@code l}'s weights (its index in the plan list). */
    DeviceBuffer slot(int l) {
        return slots.get(l);
    }

    LmHeadStep head() {
        return head;
    }

    EmbeddingTable embeddings() {
        return embeddings;
    }

    @Override
    public void close() {
        if (embeddings != null) embeddings.close();
        if (head != null) head.close();
        for (DeviceBuffer s : slots) ops.free(s);
        slots.clear();
    }
}
