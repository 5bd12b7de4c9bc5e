package io.moeprune.bench;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.TransposedBatch;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code bench/run decodeStreams [--threads N] [--mb 1024] [--unit-kb 64]}: how fast a decode step's
 * memory-bound parallel regions stream weights, against the plain read probe of the same buffer in the same
 * process. A decode step is ~100 regions of 0.5-16 MB, each cut into units of (matrix, block of rows) that the
 * threads claim; the probe is one region over the whole buffer. The table separates what a region costs (the
 * sum kernel in regions of the step's sizes) from what the row-dot kernel costs (BF16 rows of 2048 columns, as
 * q/k/v/o and gate/up, and of 256, as the experts' down projections), so a change to either can be judged.
 * The buffer (default 1 GiB) is far larger than any cache and the regions walk through it in order, so every
 * byte comes from memory, as a decode step's weights do.
 */
public final class DecodeStreamsBench {
    private static final double MIN_SECONDS = 0.2;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private DecodeStreamsBench() {
    }

    public static void main(String[] args) {
        long megabytes = 1024;
        int unitKb = 64;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads" -> Parallel.setThreads(Integer.parseInt(args[++i]));
                case "--mb" -> megabytes = Long.parseLong(args[++i]);
                case "--unit-kb" -> unitKb = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: bench/run decodeStreams [--threads N] [--mb 1024] [--unit-kb 64]");
                    System.exit(2);
                }
            }
        }
        Kernels kernels = Kernels.get();
        System.out.printf("decode streams: %d threads, kernels %s, %d MB buffer, units of %d KB%n", Parallel.threads(),
                kernels.description(), megabytes, unitKb);
        try (Arena arena = Arena.ofShared()) {
            // Weights of realistic magnitude: random bytes hold subnormal floats, whose products take a microcode
            // assist on Intel cores (first runs on the GPU machine measured the dot kernels 4x too slow that way).
            MemorySegment buffer = Roofline.randomWeights(arena, DType.BF16, (int) ((megabytes << 20) / 4096), 2048, 3)
                    .data();
            double probe = Roofline.readBandwidth(buffer, MIN_SECONDS).wall();
            System.out.printf("%n%-34s %10s %8s%n", "what", "GB/s", "of probe");
            System.out.printf("%-34s %10.1f %7.0f%%%n", "probe (one region)", probe, 100.0);
            int[] regionMb = megabytes >= 64 ? new int[]{4, 16} : new int[]{(int) megabytes};
            for (int mb : regionMb) {
                row("sum, regions of " + mb + " MB", sumRegions(buffer, mb << 20, unitKb << 10, 0), probe);
            }
            // The dot kernel's access pattern without its arithmetic: four rows read side by side.
            for (int rowBytes : new int[]{4096, 512}) {
                row("4 rows of " + rowBytes + " B side by side, " + regionMb[regionMb.length - 1] + " MB",
                        sumRegions(buffer, (long) regionMb[regionMb.length - 1] << 20, unitKb << 10, rowBytes), probe);
            }
            for (int cols : new int[]{2048, 256}) {
                for (int mb : regionMb) {
                    row("BF16 rows of " + cols + ", regions of " + mb + " MB",
                            dotRegions(kernels, buffer, DType.BF16, cols, mb << 20, unitKb << 10), probe);
                }
            }
            int mb = regionMb[regionMb.length - 1];
            row("F32 rows of 1024, regions of " + mb + " MB", dotRegions(kernels, buffer, DType.F32, 1024, mb << 20,
                    unitKb << 10), probe);
            double again = Roofline.readBandwidth(buffer, MIN_SECONDS).wall();
            row("probe again", again, probe);
        }
    }

    private static void row(String what, double rate, double probe) {
        System.out.printf("%-44s %10.1f %7.0f%%%n", what, rate, 100 * rate / probe);
    }

    /**
     * GB/s of the probe's sum kernel run in consecutive regions of regionBytes, units of unitBytes; with rowBytes > 0
     * each unit is read four rows at a time, side by side, as the four-row dot kernel reads them.
     */
    private static double sumRegions(MemorySegment buffer, long regionBytes, int unitBytes, int rowBytes) {
        long regions = buffer.byteSize() / regionBytes;
        int units = (int) (regionBytes / unitBytes);
        double[] sink = new double[units];
        Runnable pass = () -> {
            for (long g = 0; g < regions; g++) {
                long base = g * regionBytes;
                Parallel.forRange(units, unitBytes, (from, to) -> {
                    for (int u = from; u < to; u++) {
                        long off = base + (long) u * unitBytes;
                        sink[u] += rowBytes == 0 ? Roofline.sumChunk(buffer, off, unitBytes)
                                : sideBySide(buffer, off, unitBytes, rowBytes);
                    }
                });
            }
            Roofline.sink = sink[0];
        };
        return regions * regionBytes / 1e9 / Roofline.medianSeconds(pass, MIN_SECONDS, 3);
    }

    /** Sums len bytes at off read as the four-row dot kernel reads them: rows of rowBytes, four side by side. */
    private static double sideBySide(MemorySegment m, long off, int len, int rowBytes) {
        int l = F.length();
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (long g = off; g + 4L * rowBytes <= off + len; g += 4L * rowBytes) {
            for (int i = 0; i < rowBytes; i += 4 * l) {
                a0 = a0.add(FloatVector.fromMemorySegment(F, m, g + i, ByteOrder.LITTLE_ENDIAN));
                a1 = a1.add(FloatVector.fromMemorySegment(F, m, g + rowBytes + i, ByteOrder.LITTLE_ENDIAN));
                a2 = a2.add(FloatVector.fromMemorySegment(F, m, g + 2L * rowBytes + i, ByteOrder.LITTLE_ENDIAN));
                a3 = a3.add(FloatVector.fromMemorySegment(F, m, g + 3L * rowBytes + i, ByteOrder.LITTLE_ENDIAN));
            }
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }

    /**
     * GB/s of one-token row dot products ({@link Kernels#matMulT} with stride 1, the call a decode step's expert
     * units make) over BF16 rows of {@code cols}, in consecutive regions of regionBytes cut in units of unitBytes.
     */
    private static double dotRegions(Kernels kernels, MemorySegment buffer, DType dtype, int cols, long regionBytes,
                                     int unitBytes) {
        long rowBytes = (long) dtype.byteSize() * cols;
        int regionRows = (int) (regionBytes / rowBytes), unitRows = (int) Math.max(1, unitBytes / rowBytes);
        long regions = buffer.byteSize() / regionBytes;
        int units = (regionRows + unitRows - 1) / unitRows;
        float[] x = Roofline.randomFloats(cols, 5);
        float[] out = new float[regionRows];
        Weights[] matrices = new Weights[(int) regions];
        for (int g = 0; g < regions; g++) {
            matrices[g] = new Weights(buffer.asSlice(g * regionBytes, (long) regionRows * rowBytes), dtype,
                    regionRows, cols);
        }
        // Prepared as a decode step's expert units get it (laid out for the kernel that will read it).
        TransposedBatch input = kernels.prepare(x, 1, 1, cols, dtype, null);
        Runnable pass = () -> {
            for (Weights w : matrices) {
                Parallel.forRange(units, unitBytes, (from, to) -> {
                    for (int u = from; u < to; u++) {
                        int r0 = u * unitRows, r1 = Math.min(regionRows, r0 + unitRows);
                        kernels.matMulT(w, r0, r1, input, out, r0);
                    }
                });
            }
            Roofline.sink = out[0];
        };
        return regions * (long) regionRows * rowBytes / 1e9 / Roofline.medianSeconds(pass, MIN_SECONDS, 3);
    }
}
