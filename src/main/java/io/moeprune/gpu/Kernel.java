package io.moeprune.gpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * One compiled kernel, launched on the device's compute stream. Arguments are marshalled by their Java type, which
 * must match the kernel's parameter: {@link DeviceBuffer} or {@code Long} for a pointer or 64-bit integer,
 * {@code Integer} for int, {@code Float} for float.
 */
public final class Kernel {
    private final GpuDevice device;
    private final String name;
    private final long function;
    private int sharedLimitSet;

    Kernel(GpuDevice device, String name, long function) {
        this.device = device;
        this.name = name;
        this.function = function;
    }

    /** Launches a 1-D grid of {@code blocks} × {@code threads}. */
    public void launch(int blocks, int threads, int sharedBytes, Object... args) {
        launch(blocks, 1, 1, threads, 1, 1, sharedBytes, args);
    }

    /** Launches a grid (gx, gy, gz) of blocks (bx, by, bz) on the compute stream. */
    public void launch(int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, Object... args) {
        if (gx <= 0 || gy <= 0 || gz <= 0) return;   // nothing to do (an empty batch)
        if (sharedBytes > 48 * 1024 && sharedBytes > sharedLimitSet) {
            device.driver().maxDynamicShared(function, sharedBytes);
            sharedLimitSet = sharedBytes;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment values = a.allocate(8L * Math.max(1, args.length), 8);
            MemorySegment pointers = a.allocate(ADDRESS, Math.max(1, args.length));
            for (int i = 0; i < args.length; i++) {
                long off = 8L * i;
                switch (args[i]) {
                    case DeviceBuffer b -> values.set(JAVA_LONG, off, b.address());
                    case Long l -> values.set(JAVA_LONG, off, l);
                    case Integer n -> values.set(JAVA_INT, off, n);
                    case Float f -> values.set(JAVA_FLOAT, off, f);
                    case null, default -> throw new IllegalArgumentException(name + ": argument " + i + " is "
                            + (args[i] == null ? "null" : args[i].getClass().getSimpleName()));
                }
                pointers.setAtIndex(ADDRESS, i, values.asSlice(off, 8));
            }
            device.driver().launch(function, gx, gy, gz, bx, by, bz, sharedBytes, device.stream(), pointers, name);
        }
    }

    public String name() {
        return name;
    }
}
