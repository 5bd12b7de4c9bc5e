package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.TokenScores;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The LM head's token scores (LmHeadStep.queueScores into DeviceTokenScores) over several sequences' rows of one run,
 * the head in blocks of 3 rows (blocks crossing the scored positions' start) and in one block: the same scores, and
 * those of the downloaded logits scored on the host (GraniteMoE: its logits divisor on both sides).
 */
class DeviceTokenScoresTest {
    private static final long BOUND = 1L << 30;

    @Test
    void blocksOfRowsScoreAsOneBlockAndAsTheHost() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("granitemoe")); HostOps ops = new HostOps(BOUND)) {
            int hidden = model.spec().hiddenSize(), vocab = model.spec().vocabSize();
            Random r = new Random(5);
            List<int[]> seqs = List.of(r.ints(8, 0, vocab).toArray(), r.ints(1, 0, vocab).toArray(),
                    r.ints(7, 0, vocab).toArray());
            int[] first = {2, 0, 5};
            long[] firstRow = {0, 8, 9, 16};
            try (HostTransfers io = new HostTransfers(ops); Residuals residuals = new Residuals(ops, 16, hidden, true)) {
                float[] x = new float[16 * hidden];
                for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
                residuals.put(0, x, io);
                TokenScores[] blocks = scores(ops, model, io, residuals, seqs, first, firstRow, 3);
                TokenScores[] whole = scores(ops, model, io, residuals, seqs, first, firstRow, 8);
                for (int c = 0; c < seqs.size(); c++) {
                    assertArrayEquals(whole[c].nll(), blocks[c].nll(), "sequence " + c);
                    assertArrayEquals(whole[c].hits(), blocks[c].hits(), "sequence " + c);
                    assertEquals(Math.max(0, seqs.get(c).length - 1 - first[c]), blocks[c].predicted());
                    float[] logits;
                    try (LmHeadStep head = new LmHeadStep(ops, model, ops.pinnedHost(1 << 20), io, true, 8, BOUND)) {
                        logits = head.logits(residuals, firstRow[c], seqs.get(c).length, true, io, 0);
                    }
                    TokenScores host = TokenScores.of(logits, seqs.get(c), first[c]);
                    for (int i = 0; i < host.predicted(); i++) {
                        assertEquals((float) host.nll()[i], blocks[c].nll()[i], "sequence " + c + " position " + i);
                        assertEquals(host.hits()[i], blocks[c].hits()[i], "sequence " + c + " position " + i);
                    }
                }
            }
            assertEquals(0, ops.allocatedBytes(), "everything freed");
        }
    }

    /** Every sequence's scores with the head computing at most {@code rows} rows at once. */
    private static TokenScores[] scores(HostOps ops, Model model, HostTransfers io, Residuals residuals,
                                        List<int[]> seqs, int[] first, long[] firstRow, int rows) {
        try (DeviceTokenScores scores = new DeviceTokenScores(ops, io, seqs, firstRow, first);
             LmHeadStep head = new LmHeadStep(ops, model, ops.pinnedHost(1 << 20), io, true, rows, BOUND)) {
            for (int c = 0; c < seqs.size(); c++) head.queueScores(residuals, firstRow[c], seqs.get(c).length, scores);
            scores.download();
            TokenScores[] out = new TokenScores[seqs.size()];
            for (int c = 0; c < seqs.size(); c++) out[c] = scores.sequence(c, model);
            return out;
        }
    }
}
