package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.runtime.Model;

import java.util.List;

/**
 * The one model whose weights stay on the device for a device session ({@link ResidentWeights}: every layer's slot and
 * the LM head), shared by the layer-major pass ({@link GpuLayerMajorPass}) and generation ({@link GpuGeneration}): the
 * weights are the same whatever the mask (a mask acts in routing), so one set serves every pass, mask and generation
 * of that model; the first user of a process pays the upload, later ones copy nothing. Another model releases it
 * before its own are uploaded; {@link #close} (the session's end) releases it. Its buffers are allocated through the
 * session's {@link DeviceOps}, so {@link DeviceOps#allocatedBytes} counts them and every bound planned after stays true.
 */
public final class ResidentModel implements AutoCloseable {
    private final DeviceOps ops;
    private final long bound;
    private Model model;
    private List<LayerPlan> layers;
    private ResidentWeights weights;
    private HostTransfers io;
    private int uploads;

    /** @param bound the {@code --gpu-memory} bound of {@code ops} in bytes */
    public ResidentModel(DeviceOps ops, long bound) {
        this.ops = ops;
        this.bound = bound;
    }

    /** The weights of {@code model} when they are on the device, else null (nothing is uploaded or released). */
    synchronized ResidentWeights of(Model model) {
        return model == this.model ? weights : null;
    }

    /** Releases another model's weights, so that {@code model}'s plans see the memory they held. */
    synchronized void makeRoomFor(Model model) {
        if (model != this.model) release();
    }

    /**
     * The weights of {@code model} on the device, uploaded now unless they already are (another model's released
     * first). The caller has checked that they fit ({@link ResidentWeights#bytes}).
     */
    synchronized ResidentWeights upload(Model model) {
        if (model == this.model) return weights;
        release();
        List<LayerPlan> plan = LayerPlan.of(model);
        model.checkShards();
        io = new HostTransfers(ops);
        try {
            weights = new ResidentWeights(ops, model, plan, io, bound);
        } catch (InternalError e) {
            release();
            throw model.mappedReadFault(e);   // a SIGBUS in a mapped read while staging
        } catch (RuntimeException e) {
            release();
            throw e;
        }
        layers = plan;
        this.model = model;
        uploads++;
        return weights;
    }

    /** The resident model's layer plans (their slots are {@link ResidentWeights#slot}). */
    synchronized List<LayerPlan> layers() {
        return layers;
    }

    /** The transfers generation uses beside the resident weights. */
    synchronized HostTransfers io() {
        return io;
    }

    /** How many times weights were uploaded since this owner was made (tests: a second user must not upload). */
    public synchronized int uploads() {
        return uploads;
    }

    /** Frees the resident weights (nothing when none). */
    public synchronized void release() {
        if (weights != null) weights.close();
        if (io != null) io.close();
        weights = null;
        io = null;
        layers = null;
        model = null;
    }

    @Override
    public synchronized void close() {
        release();
    }
}
