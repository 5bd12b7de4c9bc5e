package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.runtime.DecodeSteps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;

import java.util.Arrays;
import java.util.List;

/**
 * One generation on the device: the prompt in chunks of at most {@link #CHUNK} tokens, then a token at a time, every
 * step through the layer-major pass's own layer code ({@link AttentionStep}, {@link FeedForwardStep}: the same
 * products, host routing and mask) with a {@link DeviceKvCache} as the attention's keys and values, each layer's
 * output checked finite on the device ({@link FiniteFlags}), and the last row's logits downloaded for the host's
 * sampler. Batch 1: one sequence per generation.
 */
final class GpuDecoder implements DecodeSteps {
    /** Most prompt tokens per step (bounds the activations; longer prompts take several steps). */
    static final int CHUNK = 256;

    private final DeviceOps ops;
    private final Model model;
    private final ExpertMask mask;
    private final List<LayerPlan> layers;
    private final ResidentWeights weights;
    private final HostTransfers io;
    private final int hidden, chunk;
    private final DeviceKvCache cache;
    private final ChunkBuffers b;
    private final Residuals x;
    private final FiniteFlags flags;
    private int past;

    /** Device bytes of a generation of {@code positions} positions: its KV cache and a chunk's activations. */
    static long bytes(Model model, List<LayerPlan> layers, int positions) {
        int chunk = Math.min(positions, CHUNK);
        ChunkBuffers.Widths w = ChunkBuffers.Widths.of(model.spec(), layers);
        return DeviceKvCache.bytes(layers, positions) + w.bytesPerToken() * chunk
                + 4L * chunk * model.spec().hiddenSize() + 4L * layers.size()
                + MemoryPlan.ROUNDING * (ChunkBuffers.BUFFERS + 4);
    }

    GpuDecoder(DeviceOps ops, Model model, ExpertMask mask, List<LayerPlan> layers, ResidentWeights weights,
               HostTransfers io, int positions) {
        this.ops = ops;
        this.model = model;
        this.mask = mask == null ? ExpertMask.NONE : mask;
        this.layers = layers;
        this.weights = weights;
        this.io = io;
        this.hidden = model.spec().hiddenSize();
        this.chunk = Math.min(positions, CHUNK);
        DeviceKvCache c = null;
        ChunkBuffers cb = null;
        Residuals r = null;
        try {
            c = new DeviceKvCache(ops, layers, positions);
            cb = new ChunkBuffers(ops, ChunkBuffers.Widths.of(model.spec(), layers), chunk, true);
            r = new Residuals(ops, chunk, hidden, true);
            this.flags = new FiniteFlags(ops, layers.size());
        } catch (RuntimeException e) {
            if (r != null) r.close();
            if (cb != null) cb.close();
            if (c != null) c.close();
            throw e;
        }
        this.cache = c;
        this.b = cb;
        this.x = r;
    }

    @Override
    public float[] prefill(int[] prompt) {
        int last = 0;
        for (int c0 = 0; c0 < prompt.length; c0 += chunk) {
            last = Math.min(chunk, prompt.length - c0);
            step(Arrays.copyOfRange(prompt, c0, c0 + last));
        }
        return weights.head().logits(x, 0, last, false, io, past - last);
    }

    @Override
    public float[] decode(int token) {
        step(new int[]{token});
        return weights.head().logits(x, 0, 1, false, io, past - 1);
    }

    /** Every layer over the rows of {@code tokens} at positions {@code past}…, their keys and values cached. */
    private void step(int[] tokens) {
        int n = tokens.length;
        x.put(0, model.embed(tokens, past), io);
        int[] positions = new int[n];
        for (int i = 0; i < n; i++) positions[i] = past + i;
        io.upload(positions, n, b.positions);
        DeviceBuffer rows = x.rows(0, n, null);
        flags.reset();
        for (int l = 0; l < layers.size(); l++) {
            LayerPlan layer = layers.get(l);
            DeviceBuffer slot = weights.slot(l);
            AttentionStep.run(ops, layer, slot, b, rows, n, cache.at(l, past, n));
            FeedForwardStep.run(ops, io, layer, slot, b, rows, n, mask, false);
            flags.check(rows, n, hidden, l);
        }
        FiniteFlags.Found bad = flags.first();
        if (bad != null) {
            throw model.nonFiniteInLayer(layers.get(bad.slot()).index(), bad.nan(), past + (int) (bad.element() / hidden));
        }
        past += n;
    }

    @Override
    public void close() {
        flags.close();
        x.close();
        b.close();
        cache.close();
    }
}
