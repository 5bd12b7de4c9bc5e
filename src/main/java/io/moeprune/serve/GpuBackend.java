package io.moeprune.serve;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.runtime.GpuDecoder;
import io.moeprune.gpu.runtime.GpuGeneration;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The sequences on a GPU ({@code serve --device cuda}): one {@link GpuDecoder} per expert set in use, each of
 * {@code maxBatch} slots whose KV caches hold {@code context} positions on the device, over the weights the device
 * session keeps resident (uploaded once for every decoder). A request takes a free slot of its expert set's decoder,
 * which is emptied for it ({@link GpuDecoder#reset}); the others keep their caches. A decode step runs the group's
 * slots only ({@link GpuDecoder#decodeSlots}), an idle slot costs nothing; where every sequence of the group samples
 * greedily, the step's next tokens are picked on the device ({@link #decodeGreedy}: no logits come back). The decoder
 * of a further expert set (a pattern) is made when a request first needs it; where the device has no room for it, the
 * decoders no request uses are closed first, and while those of requests in flight fill it, the request waits for them
 * to end.
 */
final class GpuBackend implements ServeBackend {
    private final Model model;
    private final GpuGeneration generation;
    private final int slots, context;
    private final Map<ExpertMask, Decoder> decoders = new LinkedHashMap<>();
    private final Map<Sequence, Seat> seats = new HashMap<>();

    /** A decoder of one expert set and which of its slots hold a request. */
    private record Decoder(GpuDecoder steps, BitSet used) {
    }

    /** Where a sequence's cache is. */
    private record Seat(Decoder decoder, int slot) {
    }

    /**
     * Opens the decoder of {@code first} (the mask most requests run with, or a first pattern's) now, so that a server
     * whose {@code slots} caches of {@code context} positions do not fit the device is refused at the start.
     */
    GpuBackend(Model model, GpuGeneration generation, int slots, int context, ExpertMask first) {
        this.model = model;
        this.generation = generation;
        this.slots = slots;
        this.context = context;
        try {
            decoder(first);
        } catch (MoepruneException tooSmall) {
            throw new MoepruneException(tooSmall.getMessage() + "; serve needs --max-batch " + slots + " caches of --context "
                    + context + " positions per expert set in use: give fewer or a larger --gpu-memory", tooSmall);
        }
    }

    private Decoder decoder(ExpertMask mask) {
        Decoder d = decoders.get(mask);
        if (d != null) return d;
        GpuDecoder steps;
        try {
            steps = generation.openBatch(model, mask, slots, context);
        } catch (MoepruneException tooSmall) {
            if (!closeIdleDecoders()) throw tooSmall;
            steps = generation.openBatch(model, mask, slots, context);
        }
        d = new Decoder(steps, new BitSet(slots));
        decoders.put(mask, d);
        return d;
    }

    /** Closes the decoders whose slots are all free; true when there was one. */
    private boolean closeIdleDecoders() {
        List<ExpertMask> idle = new ArrayList<>();
        decoders.forEach((mask, d) -> {
            if (d.used().isEmpty()) idle.add(mask);
        });
        for (ExpertMask mask : idle) decoders.remove(mask).steps().close();
        return !idle.isEmpty();
    }

    @Override
    public boolean open(Sequence s) {
        if (s.positions() > context) {
            throw new IllegalStateException(s.positions() + " positions for a device cache of " + context);
        }
        Decoder d;
        try {
            d = decoder(s.mask);
        } catch (MoepruneException tooSmall) {
            if (seats.isEmpty()) throw tooSmall;
            return false;  // the decoders of the requests in flight fill the device: room once they end
        }
        int slot = d.used().nextClearBit(0);
        // The scheduler admits at most maxBatch sequences in all: a decoder of maxBatch slots always has one free.
        if (slot >= slots) throw new IllegalStateException("no free slot among " + slots);
        d.used().set(slot);
        d.steps().reset(slot);
        seats.put(s, new Seat(d, slot));
        return true;
    }

    @Override
    public float[][] prefill(List<Sequence> group) {
        float[][] logits = new float[group.size()][];
        for (int i = 0; i < logits.length; i++) {
            Seat seat = seats.get(group.get(i));
            logits[i] = seat.decoder().steps().prefill(seat.slot(), group.get(i).prompt);
        }
        return logits;
    }

    @Override
    public void reset(Sequence s) {
        Seat seat = seats.get(s);
        seat.decoder().steps().reset(seat.slot());
    }

    @Override
    public float[][] decode(List<Sequence> group) {
        int n = group.size();
        float[] flat = decoderOf(group).decodeSlots(slotsOf(group), lastTokens(group));
        int vocab = flat.length / n;
        float[][] logits = new float[n][];
        for (int i = 0; i < n; i++) logits[i] = Arrays.copyOfRange(flat, i * vocab, (i + 1) * vocab);
        return logits;
    }

    /** The argmax of each sequence's logits picked on the device ({@link GpuDecoder#decodeSlotsGreedy}). */
    @Override
    public int[] decodeGreedy(List<Sequence> group) {
        return decoderOf(group).decodeSlotsGreedy(slotsOf(group), lastTokens(group));
    }

    /** The decoder of a group (one expert set: its sequences' seats are in one decoder). */
    private GpuDecoder decoderOf(List<Sequence> group) {
        return seats.get(group.getFirst()).decoder().steps();
    }

    private int[] slotsOf(List<Sequence> group) {
        return group.stream().mapToInt(s -> seats.get(s).slot()).toArray();
    }

    private static int[] lastTokens(List<Sequence> group) {
        return group.stream().mapToInt(s -> s.last).toArray();
    }

    @Override
    public void release(Sequence s) {
        Seat seat = seats.remove(s);
        if (seat != null) seat.decoder().used().clear(seat.slot());
    }

    /** Decoders open now (one per expert set in use, and idle ones not yet needed elsewhere). */
    int decoders() {
        return decoders.size();
    }

    @Override
    public void close() {
        seats.clear();
        decoders.values().forEach(d -> d.steps().close());
        decoders.clear();
    }
}
