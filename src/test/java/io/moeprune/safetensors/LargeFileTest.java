package io.moeprune.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Files and tensors beyond 2 GiB, as sparse files: the length is set, only the bytes the test checks are
 * written, so no real gigabytes touch the disk.
 */
class LargeFileTest {
    static final long F32_COUNT = (1L << 29) + 256;          // 2 GiB + 1 KiB of F32: crosses the 2 GiB mark
    static final long I8_COUNT = (1L << 31) + 8;             // more elements than an int can index

    @Test
    void readsTheEndOfTensorsPastTwoGigabytes(@TempDir Path tmp) throws IOException {
        Path file = tmp.resolve("model.safetensors");
        long aBytes = F32_COUNT * 4;
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[" + F32_COUNT + "],\"data_offsets\":[0," + aBytes + "]},"
                + "\"b\":{\"dtype\":\"I8\",\"shape\":[" + I8_COUNT + "],\"data_offsets\":[" + aBytes + ","
                + (aBytes + I8_COUNT) + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) & ~7;
        long dataStart = 8 + padded;
        long size = dataStart + aBytes + I8_COUNT;
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
            ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(h);
            while (head.hasRemaining()) head.put((byte) ' ');
            raf.write(head.array());
            // The last 1000 floats of "a", and 100 floats straddling byte 2^31 of the data area.
            writeFloats(raf, dataStart + aBytes - 4000, F32_COUNT - 1000, 1000);
            long mark = (1L << 31) / 4 - 50;
            writeFloats(raf, dataStart + mark * 4, mark, 100);
            // The last 16 bytes of "b".
            raf.seek(size - 16);
            for (int i = 0; i < 16; i++) raf.write(i - 8);
        }
        assertTrue(Files.size(file) > (4L << 30));

        try (Checkpoint ckpt = Checkpoint.openFile(file)) {
            LogicalTensor a = ckpt.logical().get("a");
            assertEquals(F32_COUNT, a.elementCount());
            float[] dst = new float[1000];
            a.readFloats(F32_COUNT - 1000, dst, 0, 1000);
            for (int i = 0; i < 1000; i++) assertEquals(valueAt(F32_COUNT - 1000 + i), dst[i]);
            float[] mid = new float[100];
            long mark = (1L << 31) / 4 - 50;
            a.readFloats(mark, mid, 0, 100);
            for (int i = 0; i < 100; i++) assertEquals(valueAt(mark + i), mid[i]);
            assertEquals(valueAt(F32_COUNT - 1), a.getFloat(F32_COUNT - 1));

            Tensor b = ckpt.tensor("b");
            assertEquals(I8_COUNT, b.elementCount());
            for (int i = 0; i < 16; i++) assertEquals(i - 8, b.getLong(I8_COUNT - 16 + i));
            float[] tail = new float[16];
            ckpt.logical().get("b").readFloats(I8_COUNT - 16, tail, 0, 16);
            for (int i = 0; i < 16; i++) assertEquals(i - 8, tail[i]);
            assertEquals(0f, ckpt.logical().get("b").getFloat(1L << 31));   // a hole reads as zero
        }
    }

    static float valueAt(long i) {
        return (float) (i % 100_003) * 0.5f - 7f;
    }

    static void writeFloats(RandomAccessFile raf, long pos, long firstIndex, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) b.putFloat(valueAt(firstIndex + i));
        raf.seek(pos);
        raf.write(b.array());
    }
}
