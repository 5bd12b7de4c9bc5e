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
 * for the next ones (an eval's items); each generation gets its own KV cache ({@link GpuDecoder}). Generation does not
 * stream layers: a model whose weights, cache and activations exceed {@code --gpu-memory} is a one-line error naming
 * the sizes (exit 2).
 */
public final class GpuGeneration implements DecodeSteps.Factory, AutoCloseable {
    private final DeviceOps ops;
    private final long bound;
    private Model resident;
    private List<LayerPlan> layers;
    private ResidentWeights weights;
    private HostTransfers io;

    /** @param bound the {@code --gpu-memory} bound of {@code ops} in bytes */
    public GpuGeneration(DeviceOps ops, long bound) {
        this.ops = ops;
        this.bound = bound;
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
        if (model != resident) {
            release();
            List<LayerPlan> plan = LayerPlan.of(model);
            require(ResidentWeights.bytes(model, plan), GpuDecoder.bytes(model, plan, sequences, positions), sequences,
                    positions);
            model.checkShards();
            io = new HostTransfers(ops);
            try {
                weights = new ResidentWeights(ops, model, plan, io, bound);
            } catch (InternalError e) {
                release();
                throw model.mappedReadFault(e);
            } catch (RuntimeException e) {
                release();
                throw e;
            }
            layers = plan;
            resident = model;
        } else {
            require(0, GpuDecoder.bytes(model, layers, sequences, positions), sequences, positions);
        }
        return new GpuDecoder(ops, model, mask, layers, weights, io, sequences, positions);
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

    private void release() {
        if (weights != null) weights.close();
        if (io != null) io.close();
        weights = null;
        io = null;
        layers = null;
        resident = null;
    }

    @Override
    public synchronized void close() {
        release();
    }
}
