#!/usr/bin/env python3
"""Writes TileBench.java: register-tile variants of VectorKernels' matMulT inner loop (R rows x V vectors of inputs,
decoded weights broadcast against input vectors), each timed in isolation on data in L1. Used by
bench/device/tile_variants_probe.sh (measured 2026-11-23, BENCHMARKS.md). Build here, run there (the device's jlinked JDK
has no javac):

    python3 bench/device/gen_tile_bench.py > /tmp/TileBench.java && mkdir -p .devbench/tiles &&
    $JAVA_HOME/bin/javac --add-modules jdk.incubator.vector -d .devbench/tiles /tmp/TileBench.java
    java --add-modules jdk.incubator.vector -cp .devbench/tiles TileBench 6x2     # one variant per JVM
"""
VARIANTS = [(4, 2), (8, 1), (4, 3), (6, 2), (3, 4), (2, 4), (8, 2), (5, 3), (4, 4), (6, 3)]


def tile(r_count, v_count):
    acc = [f"a{r}{v}" for r in range(r_count) for v in range(v_count)]
    s = (f"    static void tile{r_count}x{v_count}(float[] p, int po, int kl, float[] xT, int xo, int stride, "
         f"float[] y, int yo, int ys) {{\n")
    s += "        FloatVector z = FloatVector.zero(F);\n"
    s += "        FloatVector " + ", ".join(f"{a} = z" for a in acc) + ";\n"
    s += "        for (int k = po, xi = xo; k < po + kl; k++, xi += stride) {\n"
    for v in range(v_count):
        s += f"            FloatVector x{v} = FloatVector.fromArray(F, xT, xi + {v} * L);\n"
    for r in range(r_count):
        s += f"            FloatVector w{r} = FloatVector.broadcast(F, p[{r} * KC + k]);\n"
        for v in range(v_count):
            s += f"            a{r}{v} = w{r}.fma(x{v}, a{r}{v});\n"
    s += "        }\n"
    for r in range(r_count):
        for v in range(v_count):
            o = f"yo + {r} * ys + {v} * L"
            s += f"        a{r}{v}.add(FloatVector.fromArray(F, y, {o})).intoArray(y, {o});\n"
    return s + "    }\n"


src = """import jdk.incubator.vector.*;
public class TileBench {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length(), KC = 256;
"""
src += "".join(tile(r, v) for r, v in VARIANTS)
src += """    interface T { void run(); }
    static double time(T t, double flopsPerCall) {
        long end = System.nanoTime() + 400_000_000L;
        while (System.nanoTime() < end) t.run();
        double best = 0;
        for (int rep = 0; rep < 5; rep++) {
            long t0 = System.nanoTime();
            int c = 0;
            while (System.nanoTime() - t0 < 100_000_000L) { t.run(); c++; }
            best = Math.max(best, c * flopsPerCall / (System.nanoTime() - t0));
        }
        return best;
    }
    public static void main(String[] a) {
        float[] p = new float[8 * KC], x = new float[KC * 4 * L], y = new float[8 * 4 * L];
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < p.length; i++) p[i] = r.nextFloat() * 1e-3f;
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat() * 1e-3f;
        String only = a.length > 0 ? a[0] : "";
"""
for r, v in VARIANTS:
    src += (f'        if (only.isEmpty() || only.equals("{r}x{v}")) System.out.printf("tile {r}x{v}  %6.1f GFLOP/s '
            f'(L=%d)%n", time(() -> tile{r}x{v}(p, 0, KC, x, 0, {v} * L, y, 0, {v} * L), 2.0 * KC * {r} * {v} * L), L);\n')
src += "    }\n}\n"
print(src, end="")
