package io.moeprune.safetensors;

import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Where the bytes of one tensor given to {@link SafetensorsWriter} come from. Sources are descriptions, not
 * data: the writer pulls the bytes only when it writes the shard, so a whole model never sits in memory.
 */
public sealed interface TensorSource {

    /** How many bytes the source yields. */
    long byteSize();

    /**
     * Byte ranges of an existing file, concatenated; copied channel to channel without decoding (the kernel's
     * copy_file_range/sendfile where available).
     */
    record FileRanges(Path file, long[] offsets, long[] lengths) implements TensorSource {
        public FileRanges {
            if (offsets.length != lengths.length) throw new IllegalArgumentException("offsets and lengths differ in count");
            offsets = offsets.clone();
            lengths = lengths.clone();
            for (int i = 0; i < offsets.length; i++) {
                if (offsets[i] < 0 || lengths[i] < 0) throw new IllegalArgumentException("negative range " + i);
            }
        }

        @Override
        public long byteSize() {
            long n = 0;
            for (long l : lengths) n += l;
            return n;
        }

        @Override
        public String toString() {
            return "FileRanges[" + file + ", " + offsets.length + " ranges, " + byteSize() + " bytes]";
        }
    }

    /** Bytes already in memory (small tensors made by the caller, e.g. a rewritten router). */
    record Bytes(ByteBuffer bytes) implements TensorSource {
        public Bytes {
            bytes = bytes.asReadOnlyBuffer();
        }

        @Override
        public long byteSize() {
            return bytes.remaining();
        }
    }

    /** Writes exactly {@code byteSize} bytes into the shard when asked (for produced data too big to hold). */
    @FunctionalInterface
    interface Producer {
        void writeTo(WritableByteChannel out) throws IOException;
    }

    /** Bytes produced on demand by {@code producer}, which must write exactly {@code byteSize} bytes. */
    record Generated(long byteSize, Producer producer) implements TensorSource {
    }

    /** The whole stored tensor {@code name} of {@code file}, byte for byte. */
    static FileRanges of(SafetensorsFile file, String name) {
        TensorInfo t = info(file, name);
        return new FileRanges(file.path(), new long[]{file.dataStart() + t.begin()}, new long[]{t.byteSize()});
    }

    /**
     * The slices {@code indices} (in that order) along dimension 0 of stored tensor {@code name}, e.g. the
     * experts kept from a fused [E, rows, cols] tensor or the kept rows of a router [E, hidden]. Adjacent
     * slices are merged into one range so the copy stays a few large transfers.
     */
    static FileRanges dim0(SafetensorsFile file, String name, int[] indices) {
        TensorInfo t = info(file, name);
        if (t.rank() == 0) throw MoepruneException.inFile(file.path(), "tensor '" + name + "' is a scalar; no rows to select");
        long n = t.dim(0);
        long slice = n == 0 ? 0 : t.byteSize() / n;
        long base = file.dataStart() + t.begin();
        long[] offs = new long[indices.length], lens = new long[indices.length];
        int m = 0;
        for (int idx : indices) {
            if (idx < 0 || idx >= n) {
                throw new IndexOutOfBoundsException("index " + idx + " along dimension 0 of " + t);
            }
            long off = base + idx * slice;
            if (m > 0 && offs[m - 1] + lens[m - 1] == off) {
                lens[m - 1] += slice;
            } else {
                offs[m] = off;
                lens[m] = slice;
                m++;
            }
        }
        return new FileRanges(file.path(), Arrays.copyOf(offs, m), Arrays.copyOf(lens, m));
    }

    private static TensorInfo info(SafetensorsFile file, String name) {
        TensorInfo t = file.tensors().get(name);
        if (t == null) throw MoepruneException.inFile(file.path(), "no tensor named '" + name + "'");
        return t;
    }
}
