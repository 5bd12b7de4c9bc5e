package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.prune.ByteSize;
import io.moeprune.runtime.DecodeSteps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;

import java.util.List;

/**
 * Generation on a device ({@code generate --device cuda}, eval's generation tasks): the {@link DecodeSteps.Factory}
 * a command's device session installs. The model's weights go to the device once, on the first generation, and stay
 * for the next ones (an eval's items), and for the layer-major passes of the same session ({@link ResidentModel}); each
 * generation gets its own KV cache ({@link GpuDecoder}). Generation does not stream layers: a model whose weights,
 * cache and activations exceed {@code --gpu-memory} is a one-line error naming the sizes (exit 2).
 */
public final class GpuGeneration implements DecodeSteps.Factory, AutoCloseable {
    private final DeviceOps ops;
    private final long bound;
    private final ResidentModel resident;
    private final boolean ownsResident;

    /** Generation with resident weights of its own (released by {@link #close}). */
    public GpuGeneration(DeviceOps ops, long bound) {
        this(ops, bound, new ResidentModel(ops, bound), true);
    }

    /**
     * Generation over the device session's resident weights, shared with its layer-major passes (a prefill that made
     * the model resident saves generation the upload, and the reverse); {@code resident} is the session's to close.
     */
    public GpuGeneration(DeviceOps ops, long bound, ResidentModel resident) {
        this(ops, bound, resident, false);
    }

    private boolean fusedPrologue = AttentionStep.FUSED_PROLOGUE;
    private boolean fusedEpilogue = FeedForwardStep.FUSED_EPILOGUE;
    private boolean fusedAttentionEpilogue = AttentionStep.FUSED_EPILOGUE;
    private DecodeRouting decodeRouting = DecodeRouting.fromProperties();

    private GpuGeneration(DeviceOps ops, long bound, ResidentModel resident, boolean ownsResident) {
        this.ops = ops;
        this.bound = bound;
        this.resident = resident;
        this.ownsResident = ownsResident;
    }

    /**
     * Whether the decoders opened from now on run the blocks' prologues fused ({@code -Dmoeprune.fusedPrologue} by
     * default): tests compare both on one device.
     */
    public synchronized GpuGeneration fusedPrologue(boolean fused) {
        fusedPrologue = fused;
        return this;
    }

    /**
     * Whether the decoders opened from now on run a MoE block's epilogue as one kernel
     * ({@code -Dmoeprune.fusedEpilogue} by default): tests compare both on one device.
     */
    public synchronized GpuGeneration fusedEpilogue(boolean fused) {
        fusedEpilogue = fused;
        return this;
    }

    /**
     * Whether the decoders opened from now on cut the passes around the attention kernel
     * ({@code -Dmoeprune.fusedAttentionEpilogue} by default): tests compare both on one device.
     */
    public synchronized GpuGeneration fusedAttentionEpilogue(boolean fused) {
        fusedAttentionEpilogue = fused;
        return this;
    }

    /**
     * Where the decoders opened from now on take a decode step's experts' counts from ({@link DecodeRouting},
     * {@code -Dmoeprune.decodeRouting} by default): tests compare both on one device.
     */
    public synchronized GpuGeneration decodeRouting(DecodeRouting routing) {
        decodeRouting = routing;
        return this;
    }

    @Override
    public DecodeSteps open(Model model, ExpertMask mask, int positions) {
        return openBatch(model, mask, 1, positions);
    }

    /**
     * A decoder of {@code sequences} sequences of at most {@code positions} positions each (a batched decode:
     * {@link GpuDecoder#prefill(int, int[])} each sequence, then {@link GpuDecoder#decodeAll} steps).
     */
    public synchronized GpuDecoder openBatch(Model model, ExpertMask mask, int sequences, int positions) {
        ResidentWeights weights = resident.of(model);
        if (weights == null) {
            resident.makeRoomFor(model);
            List<LayerPlan> plan = LayerPlan.of(model);
            require(ResidentWeights.bytes(model, plan), GpuDecoder.bytes(model, plan, sequences, positions), sequences,
                    positions);
            weights = resident.upload(model);
        } else {
            require(0, GpuDecoder.bytes(model, resident.layers(), sequences, positions), sequences, positions);
        }
        return new GpuDecoder(ops, model, mask, resident.layers(), weights, resident.io(), sequences, positions)
                .fusedPrologue(fusedPrologue).fusedEpilogue(fusedEpilogue)
                .fusedAttentionEpilogue(fusedAttentionEpilogue).decodeRouting(decodeRouting);
    }

    private void require(long weightBytes, long generationBytes, int sequences, int positions) {
        long inUse = ops.allocatedBytes();
        if (inUse + weightBytes + generationBytes <= bound) return;
        String weightsPart = weightBytes > 0 ? "the weights need " + ByteSize.format(weightBytes) + " and " : "";
        throw new MoepruneException("--gpu-memory " + ByteSize.format(bound) + " is too small to generate on the "
                + "device: " + weightsPart + (sequences == 1 ? "a generation" : sequences + " generations") + " of "
                + positions + " positions "
                + ByteSize.format(generationBytes) + " (KV cache and activations) with " + ByteSize.format(inUse)
                + " in use; generation keeps the whole model on the device");
    }

    @Override
    public synchronized void close() {
        if (ownsResident) resident.close();
    }
}
