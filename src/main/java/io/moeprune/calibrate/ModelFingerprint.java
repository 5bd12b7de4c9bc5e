package io.moeprune.calibrate;

import io.moeprune.model.ModelSpec;
import io.moeprune.model.TensorNames;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.Tensor;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Identifies the model that statistics and masks were made for, so that a statistics file or mask is never
 * applied to another model. Hashes the routing shape (family, layers, MoE layers, experts, top-k) and the bytes
 * of every MoE layer's router weight: cheap to compute (routers are small) and different for any other model,
 * including a pruned copy of the same one.
 */
public final class ModelFingerprint {
    private ModelFingerprint() {
    }

    public static String of(ModelSpec spec, Checkpoint checkpoint) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        String shape = spec.family().modelType() + "|" + spec.hiddenSize() + "|" + spec.numLayers() + "|"
                + spec.moeLayers() + "|" + spec.moe().numExperts() + "|" + spec.moe().topK();
        md.update(shape.getBytes(StandardCharsets.UTF_8));
        for (int layer : spec.moeLayers()) {
            String name = TensorNames.format(spec.names().routerWeight(), layer);
            if (name != null && checkpoint.has(name)) {
                Tensor t = checkpoint.tensor(name);
                ByteBuffer bytes = t.data().asByteBuffer();
                md.update(bytes);
            }
        }
        return "sha256:" + HexFormat.of().formatHex(md.digest(), 0, 12);
    }
}
