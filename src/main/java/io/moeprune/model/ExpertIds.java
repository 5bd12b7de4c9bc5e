package io.moeprune.model;

import io.moeprune.MoepruneException;

/**
 * The one check of a layer's list of expert ids that every mask reader shares (the native mask format, the bare
 * {@code {"layers": ...}} form, masks built in code): each id in range, none listed twice. A duplicate would be
 * silently counted once by the runtime but twice by whatever counts kept experts.
 */
public final class ExpertIds {
    private ExpertIds() {
    }

    /** Throws naming the layer and the id (callers put the file in front); does not reorder {@code ids}. */
    public static void requireValid(int layer, int[] ids, int numExperts) {
        boolean[] seen = new boolean[Math.max(numExperts, 0)];
        for (int id : ids) {
            if (id < 0 || id >= numExperts) {
                throw new MoepruneException("layer " + layer + ": expert id " + id + " is out of range 0.." + (numExperts - 1));
            }
            if (seen[id]) throw new MoepruneException("layer " + layer + ": expert id " + id + " is listed twice");
            seen[id] = true;
        }
    }
}
