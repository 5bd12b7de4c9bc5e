package io.moeprune.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.inspect.TensorCheck;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.MoeSpec;
import io.moeprune.model.TensorNames;
import io.moeprune.runtime.family.Families;
import io.moeprune.runtime.family.FamilyRuntime;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Builds a {@link Model} from a checkpoint and its spec; the family-specific parts come from {@link Families}. */
final class ModelLoader {
    private ModelLoader() {
    }

    static Model load(Path dir, ModelSpec spec) {
        FamilyRuntime family = Families.of(spec);
        if (!Rope.SUPPORTED.contains(spec.rope().type())) {
            throw MoepruneException.inFile(dir.resolve(ConfigReader.CONFIG), "rope_type '" + spec.rope().type()
                    + "' is not supported by the runtime yet (supported: " + String.join(", ", Rope.SUPPORTED) + ")");
        }
        Checkpoint checkpoint = Checkpoint.open(dir);
        try {
            // Headers only: what inspect refuses is never run (wrong shapes would read out of bounds or run
            // silently wrong weights).
            TensorCheck.of(spec, checkpoint).requirePasses(dir);
            WeightSource w = new WeightSource(checkpoint);
            TensorNames names = spec.names();
            Tensor embedding = w.tensor(names.embed());
            if (embedding.shape().length != 2 || embedding.shape()[1] != spec.hiddenSize()) {
                throw MoepruneException.inFile(checkpoint.shardOf(names.embed()).path(), "embedding '" + names.embed()
                        + "' has shape " + embedding.info().shapeString() + ", expected [vocab, " + spec.hiddenSize() + "]");
            }
            float eps = spec.rmsNormEps();
            float residual = spec.scaling().residual();
            List<DecoderLayer> layers = new ArrayList<>(spec.numLayers());
            for (int l = 0; l < spec.numLayers(); l++) {
                RmsNorm in = new RmsNorm(w.vector(TensorNames.format(names.inputNorm(), l), spec.hiddenSize()), eps);
                RmsNorm post = new RmsNorm(w.vector(TensorNames.format(names.postAttentionNorm(), l), spec.hiddenSize()), eps);
                AttentionLayer attention = family.attention(spec, w, l);
                FeedForward ffn = spec.isMoeLayer(l) ? moeBlock(spec, family, w, l) : denseMlp(spec, w, l);
                layers.add(new DecoderLayer(l, in, attention, post, ffn, residual));
            }
            RmsNorm finalNorm = new RmsNorm(w.vector(names.finalNorm(), spec.hiddenSize()), eps);
            Linear lmHead = spec.tieWordEmbeddings() || !w.has(names.lmHead())
                    ? new Linear(w.matrix(names.embed()), null)
                    : new Linear(w.matrix(names.lmHead()), null);
            return new Model(spec, checkpoint, embedding, List.copyOf(layers), finalNorm, lmHead,
                    ShardGuard.of(spec, checkpoint));
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    private static FeedForward denseMlp(ModelSpec spec, WeightSource w, int l) {
        TensorNames n = spec.names();
        return new DenseMlp(new SwiGlu(w.matrix(TensorNames.format(n.denseGate(), l)),
                w.matrix(TensorNames.format(n.denseUp(), l)), w.matrix(TensorNames.format(n.denseDown(), l))));
    }

    private static MoeBlock moeBlock(ModelSpec spec, FamilyRuntime family, WeightSource w, int l) {
        MoeSpec moe = spec.moe();
        TensorNames n = spec.names();
        Linear gate = w.linear(TensorNames.format(n.routerWeight(), l),
                moe.routerBias() ? TensorNames.format(n.routerBias(), l) : null);
        SwiGlu shared = null;
        Linear sharedGate = null;
        if (moe.sharedExperts() > 0) {
            shared = new SwiGlu(w.matrix(TensorNames.format(n.sharedGate(), l)), w.matrix(TensorNames.format(n.sharedUp(), l)),
                    w.matrix(TensorNames.format(n.sharedDown(), l)));
            if (moe.sharedExpertGate()) sharedGate = w.linear(TensorNames.format(n.sharedExpertGate(), l), null);
        }
        return new MoeBlock(l, moe, gate, family.router(spec, w, l), family.experts(spec, w, l), shared, sharedGate,
                spec.scaling().residual());
    }

    /** Weight bytes a decode step reads: everything but the unchosen experts and the embedding table. */
    static long activeBytes(Model model) {
        long bytes = model.lmHead().weights().byteSize();
        for (DecoderLayer layer : model.layers()) {
            if (layer.attention() instanceof GqaAttention g) bytes += g.weightBytes();
            if (layer.attention() instanceof MlaAttention m) bytes += m.weightBytes();
            switch (layer.feedForward()) {
                case MoeBlock m -> {
                    bytes += m.gate().weights().byteSize();
                    bytes += (long) model.spec().moe().topK() * m.experts().expertBytes();
                    if (m.shared() != null) bytes += m.shared().byteSize();
                }
                case DenseMlp d -> bytes += d.mlp().byteSize();
                default -> {
                }
            }
        }
        return bytes;
    }
}
