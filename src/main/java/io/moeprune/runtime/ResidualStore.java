package io.moeprune.runtime;

import io.moeprune.MoepruneException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a layer-major pass keeps each sequence's residual stream [tokens, hidden] (F32) between layers: on the heap,
 * or, when they exceed the memory budget, in a temporary file mapped into memory, which the kernel can write out and
 * read back as it needs the room (each layer then reads and writes them once, small beside a layer's weights).
 */
abstract sealed class ResidualStore implements AutoCloseable {

    /** The heap store when {@code bytes} fit {@code budget}, else a file in {@code dir}. */
    static ResidualStore of(long bytes, long budget, Path dir) {
        return bytes <= budget ? new OnHeap() : new Spilled(bytes, dir);
    }

    /** Stores the next sequence's rows (sequences are numbered from 0 in the order added). */
    abstract void add(float[] rows);

    /** Sequence {@code index}'s rows, to run through a layer and {@link #put} back. */
    abstract float[] get(int index);

    /** Stores the rows {@link #get} gave after the layer changed them. */
    abstract void put(int index, float[] rows);

    /** Forgets a sequence that has left the last layer. */
    abstract void drop(int index);

    @Override
    public void close() {
    }

    static final class OnHeap extends ResidualStore {
        private final List<float[]> rows = new ArrayList<>();

        @Override
        void add(float[] r) {
            rows.add(r);
        }

        @Override
        float[] get(int index) {
            return rows.get(index);
        }

        @Override
        void put(int index, float[] r) {
            rows.set(index, r);
        }

        @Override
        void drop(int index) {
            rows.set(index, null);
        }
    }

    static final class Spilled extends ResidualStore {
        private final Path file;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment map;
        private final List<long[]> spans = new ArrayList<>();   // per sequence: byte offset, floats
        private long end;

        Spilled(long bytes, Path dir) {
            try {
                file = Files.createTempFile(dir, "moeprune-residuals-", ".f32");
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    map = ch.map(FileChannel.MapMode.READ_WRITE, 0, Math.max(bytes, 1), arena);
                }
            } catch (IOException e) {
                arena.close();
                throw new MoepruneException("cannot write the residual spill file in " + dir + ": " + e.getMessage());
            }
        }

        /** The file (for tests). */
        Path file() {
            return file;
        }

        @Override
        void add(float[] r) {
            spans.add(new long[]{end, r.length});
            MemorySegment.copy(r, 0, map, ValueLayout.JAVA_FLOAT, end, r.length);
            end += 4L * r.length;
        }

        @Override
        float[] get(int index) {
            long[] s = spans.get(index);
            float[] r = new float[(int) s[1]];
            MemorySegment.copy(map, ValueLayout.JAVA_FLOAT, s[0], r, 0, r.length);
            return r;
        }

        @Override
        void put(int index, float[] r) {
            MemorySegment.copy(r, 0, map, ValueLayout.JAVA_FLOAT, spans.get(index)[0], r.length);
        }

        @Override
        void drop(int index) {
        }

        @Override
        public void close() {
            arena.close();
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                throw new MoepruneException("cannot delete the residual spill file " + file + ": " + e.getMessage());
            }
        }
    }
}
