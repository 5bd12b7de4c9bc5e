package io.moeprune.gpu;

/**
 * A range of device memory: its address and size in bytes. Owned by the {@link GpuDevice} that allocated it, which
 * frees it ({@link GpuDevice#free}) and accounts for it against {@code --gpu-memory}.
 */
public record DeviceBuffer(long address, long bytes) {
    /** The address {@code offset} bytes in (for kernels and copies that work on part of it). */
    public long at(long offset) {
        if (offset < 0 || offset > bytes) throw new IndexOutOfBoundsException(offset + " of " + bytes);
        return address + offset;
    }
}
