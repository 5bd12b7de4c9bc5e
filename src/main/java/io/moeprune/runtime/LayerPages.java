package io.moeprune.runtime;

import io.moeprune.io.PageAdvice;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.SafetensorsFile;
import io.moeprune.safetensors.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The mapped weight pages of each decoder layer (the tensors named {@code model.layers.N.*}), to read a layer ahead
 * while the one before it computes and to give a finished layer's pages back to the system ({@link PageAdvice}): a
 * layer-major pass over a checkpoint larger than memory then holds about two layers of it, not whatever the page
 * cache happened to keep.
 */
public final class LayerPages {
    private static final Pattern LAYER = Pattern.compile("^model\\.layers\\.(\\d+)\\.");

    /** One tensor's bytes: where they are mapped, and in which file at which offset. */
    private record Range(Tensor tensor, long fileOffset) {
    }

    private final List<List<Range>> layers = new ArrayList<>();
    private final List<Range> rest = new ArrayList<>();
    private final long[] layerBytes;

    LayerPages(Checkpoint checkpoint, int layerCount) {
        for (int l = 0; l < layerCount; l++) layers.add(new ArrayList<>());
        for (String name : checkpoint.names()) {
            SafetensorsFile shard = checkpoint.shardOf(name);
            Range r = new Range(shard.tensor(name), shard.dataStart() + shard.tensors().get(name).begin());
            Matcher m = LAYER.matcher(name);
            int layer = m.find() ? Integer.parseInt(m.group(1)) : -1;
            (layer >= 0 && layer < layerCount ? layers.get(layer) : rest).add(r);
        }
        layerBytes = layers.stream().mapToLong(rs -> rs.stream().mapToLong(r -> r.tensor().data().byteSize()).sum()).toArray();
    }

    /** Bytes of layer {@code layer}'s tensors as stored. */
    public long bytes(int layer) {
        return layerBytes[layer];
    }

    /** Starts reading a layer's pages in the background (nothing past the last layer). */
    public void readAhead(int layer) {
        if (layer < layers.size()) for (Range r : layers.get(layer)) PageAdvice.willNeed(r.tensor().data());
    }

    /** Gives a layer's pages back; the next use reads them again. */
    public void release(int layer) {
        for (Range r : layers.get(layer)) PageAdvice.release(r.tensor().data(), r.tensor().file(), r.fileOffset());
    }

    /** Gives every page of the checkpoint back, layers and the rest (embedding, final norm, LM head). */
    public void releaseAll() {
        for (int l = 0; l < layers.size(); l++) release(l);
        for (Range r : rest) PageAdvice.release(r.tensor().data(), r.tensor().file(), r.fileOffset());
    }
}
