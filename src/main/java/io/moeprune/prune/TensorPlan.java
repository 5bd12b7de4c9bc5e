package io.moeprune.prune;

import io.moeprune.MoepruneException;
import io.moeprune.model.MoeSpec.ExpertLayout;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.TensorNames;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.TensorInfo;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Decides, for every tensor of the input checkpoint, whether it is copied, renamed (a kept per-expert tensor,
 * expert id renumbered), sliced along the expert dimension (router weight/bias, selection bias, fused expert
 * tensors and their MXFP4 blocks/scales) or dropped (a dropped expert, an MTP layer).
 *
 * <p>Per-expert tensors are recognised by the family's expert prefix ({@code ...experts.{E}.}), so every tensor
 * under it moves with the expert: weights, biases and FP8 {@code weight_scale_inv} alike.
 */
final class TensorPlan {
    private TensorPlan() {
    }

    /** Actions in the input's storage order (shard, then offset). */
    static List<TensorAction> of(ModelSpec spec, Checkpoint in, List<Integer> moeLayers, int[][] kept) {
        Map<Integer, int[]> keptByLayer = new HashMap<>();
        for (int i = 0; i < moeLayers.size(); i++) keptByLayer.put(moeLayers.get(i), kept[i]);
        int numExperts = spec.moe().numExperts();
        TensorNames n = spec.names();

        Map<String, int[]> sliced = new HashMap<>();   // tensor name -> layer kept rows
        for (int layer : moeLayers) {
            int[] rows = keptByLayer.get(layer);
            for (String t : new String[]{n.routerWeight(), n.routerBias(), n.selectionBias()}) {
                if (t != null) sliced.put(TensorNames.format(t, layer), rows);
            }
            if (spec.moe().layout() != ExpertLayout.PER_EXPERT) {
                for (String t : new String[]{n.expertGate(), n.expertUp(), n.expertDown(), n.expertGateUpBias(), n.expertDownBias()}) {
                    if (t == null) continue;
                    String base = TensorNames.format(t, layer);
                    for (String suffix : new String[]{"", "_blocks", "_scales"}) sliced.put(base + suffix, rows);
                }
            }
        }
        Pattern perExpert = spec.moe().layout() == ExpertLayout.PER_EXPERT ? expertPattern(n.expertGate()) : null;
        Pattern layerOf = Pattern.compile("^model\\.layers\\.(\\d+)\\.");

        List<TensorAction> actions = new ArrayList<>();
        for (String name : in.names()) {
            Matcher lm = layerOf.matcher(name);
            if (spec.mtpLayers() > 0 && lm.find() && Long.parseLong(lm.group(1)) >= spec.numLayers()) {
                actions.add(new TensorAction.Drop(name, "multi-token-prediction layer"));
                continue;
            }
            int[] rows = sliced.get(name);
            if (rows != null) {
                TensorInfo info = in.info(name);
                if (info.rank() == 0 || info.dim(0) != numExperts) {
                    throw MoepruneException.inFile(in.shardOf(name).path(), "tensor '" + name + "' has shape "
                            + info.shapeString() + "; expected " + numExperts + " experts along its first dimension");
                }
                actions.add(new TensorAction.SliceExperts(name, name, rows));
                continue;
            }
            Matcher m = perExpert == null ? null : perExpert.matcher(name);
            if (m != null && m.matches()) {
                int layer = Integer.parseInt(m.group(2));
                int[] keep = keptByLayer.get(layer);
                if (keep != null) {
                    int expert = Integer.parseInt(m.group(4));
                    if (expert >= numExperts) {
                        throw MoepruneException.inFile(in.shardOf(name).path(), "tensor '" + name + "' names expert "
                                + expert + " but the config has " + numExperts + " routed experts");
                    }
                    int newId = java.util.Arrays.binarySearch(keep, expert);
                    if (newId < 0) {
                        actions.add(new TensorAction.Drop(name, "dropped expert"));
                    } else {
                        actions.add(new TensorAction.Copy(name, m.group(1) + layer + m.group(3) + newId + m.group(5)));
                    }
                    continue;
                }
            }
            actions.add(new TensorAction.Copy(name, name));
        }
        // Written in the input's storage order (shard by shard, by offset): the copies then read the input
        // sequentially, as a plain file copy does, and each layer's tensors stay together in the output shards.
        actions.sort(java.util.Comparator.comparing((TensorAction a) -> in.shardOf(a.source()).path().getFileName().toString(),
                        NaturalOrder::compare)
                .thenComparingLong(a -> in.info(a.source()).begin()));
        return actions;
    }

    /**
     * "model.layers.{L}.mlp.experts.{E}.gate_proj.weight" -> groups: 1 prefix, 2 layer, 3 middle, 4 expert,
     * 5 everything after the expert id (starting with the dot).
     */
    static Pattern expertPattern(String template) {
        int l = template.indexOf("{L}"), e = template.indexOf("{E}");
        if (l < 0 || e < l) throw new IllegalStateException("per-expert template without {L}...{E}: " + template);
        return Pattern.compile("(" + Pattern.quote(template.substring(0, l)) + ")(\\d+)("
                + Pattern.quote(template.substring(l + 3, e)) + ")(\\d+)(\\..+)");
    }
}
