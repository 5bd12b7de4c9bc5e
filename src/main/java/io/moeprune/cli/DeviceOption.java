package io.moeprune.cli;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceChoice;
import io.moeprune.gpu.GpuDevice;
import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.runtime.GpuGeneration;
import io.moeprune.gpu.runtime.GpuLayerMajorPass;
import io.moeprune.gpu.runtime.ResidentModel;
import io.moeprune.prune.ByteSize;
import io.moeprune.runtime.PrefillPasses;
import picocli.CommandLine.Option;

/**
 * {@code --device cpu|cuda[:N]} and {@code --gpu-memory SIZE}, shared by the commands that run the model (calibrate,
 * perplexity, eval, report, quickstart, generate, serve). On cuda the device is opened before any work (a machine without
 * CUDA gets the probe's one-line error, exit 2) and, until the command ends, the layer-major users run on the GPU
 * runtime ({@link GpuLayerMajorPass}) and generation on the GPU's decoder ({@link GpuGeneration}), both over one
 * {@link ResidentModel}: a model that fits the bound is uploaded once and stays for every pass and generation of the
 * command; one that does not streams its layers in each pass.
 */
final class DeviceOption {
    @Option(names = "--device", paramLabel = "cpu|cuda[:N]", defaultValue = "cpu",
            description = "where the model runs: cpu (default) or cuda[:N], the N-th CUDA device (see moeprune devices)")
    String device = "cpu";

    @Option(names = "--gpu-memory", paramLabel = "SIZE",
            description = "device memory the GPU backend may allocate, e.g. 20GB (default: 95%% of what is free); "
                    + "a model that fits stays on the device for the whole command; weights beyond it stream a layer at a time")
    String gpuMemory;

    /** The device for as long as a command runs; closing it returns the process to the CPU. */
    interface Session extends AutoCloseable {
        @Override
        void close();
    }

    DeviceChoice choice() {
        return DeviceChoice.parse(device);
    }

    /** Opens the chosen device and makes the layer-major users run on it (nothing to open for cpu). */
    Session open() {
        PrefillPasses.reset();
        DeviceChoice choice = choice();
        if (!choice.isCuda()) {
            if (gpuMemory != null) throw new MoepruneException("--gpu-memory needs --device cuda[:N]");
            return () -> { };
        }
        long bytes = gpuMemory == null ? 0 : ByteSize.parse(gpuMemory);
        if (gpuMemory != null && bytes <= 0) throw new MoepruneException("--gpu-memory " + gpuMemory + " is not a size above 0");
        GpuDevice gpu = GpuDevice.open(choice, bytes);
        CudaOps ops = new CudaOps(gpu);
        long bound = gpu.limitBytes();
        // One resident model for the session: its passes and generations upload the weights once between them.
        ResidentModel resident = new ResidentModel(ops, bound);
        GpuGeneration generation = new GpuGeneration(ops, bound, resident);
        PrefillPasses.use((model, mask, logits) -> new GpuLayerMajorPass(model, mask, logits, ops, bound, resident),
                generation, choice.toString());
        return () -> {
            PrefillPasses.reset();
            try {
                generation.close();
                resident.close();
            } finally {
                ops.close();
            }
        };
    }
}
