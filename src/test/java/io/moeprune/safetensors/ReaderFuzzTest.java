package io.moeprune.safetensors;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Thousands of corrupted files: bit flips, truncations, mutated header JSON, random headers and random bytes.
 * Opening and reading each may succeed or throw MoepruneException with a one-line message naming the file;
 * nothing else may escape.
 */
class ReaderFuzzTest {
    static final int CASES = 3000;
    static final String[] TOKENS = {"F32", "BF16", "F8_E4M3", "U8", "I64", "BOOL", "F4", "[", "]", "{", "}", ",", ":",
            "\"", "-1", "0", "1e400", "1.5", "null", "true", "\"\"", "9223372036854775807", "18446744073709551616",
            "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\\u0000", "\\ud800", "[[[[[[[[", "é"};
    static final String[] DTYPES = {"F64", "F32", "F16", "BF16", "I8", "U8", "I16", "I32", "I64", "BOOL", "F8_E4M3",
            "F8_E5M2", "F4", "bf16", "", "C64"};

    @TempDir
    Path tmp;

    @Test
    void corruptedFilesFailCleanly() throws IOException {
        Random rnd = new Random(20261123);
        byte[][] seeds = {
                RawFiles.valid(),
                quantisedSeed(),
                quantisedSeed(),
                Files.readAllBytes(QuantizedReadTest.QUANTIZED.resolve("fp8.safetensors")),
                Files.readAllBytes(QuantizedReadTest.QUANTIZED.resolve("mxfp4.safetensors")),
        };
        int opened = 0, refused = 0;
        for (int i = 0; i < CASES; i++) {
            byte[] seed = seeds[rnd.nextInt(seeds.length)];
            int kind = i % 6;
            byte[] input = switch (kind) {
                case 0 -> flipBits(seed, rnd, true);
                case 1 -> flipBits(seed, rnd, false);
                case 2 -> Arrays.copyOf(seed, rnd.nextInt(seed.length));
                case 3 -> mutateHeader(seed, rnd);
                case 4 -> randomHeader(rnd);
                default -> randomBytes(rnd);
            };
            // A fresh name each time: rewriting one file in place makes ext4 flush it on every close.
            Path file = tmp.resolve("case" + i + ".safetensors");
            Files.write(file, input);
            try {
                readEverything(file);
                opened++;
            } catch (MoepruneException e) {
                refused++;
                String m = e.getMessage();
                if (m.contains("\n") || m.contains("\r") || !m.startsWith(file.toString())) {
                    fail("case " + i + " (kind " + kind + "): bad message '" + m + "' for " + hex(input));
                }
            } catch (Throwable t) {
                throw new AssertionError("case " + i + " (kind " + kind + ") threw " + t + " for " + hex(input), t);
            }
            Files.delete(file);
        }
        assertEquals(CASES, opened + refused);
        assertTrue(refused > CASES / 3, "most corruptions are caught: " + refused);
        assertTrue(opened > 100, "some survive and read: " + opened);
    }

    /** Small file with an FP8 pair (128x128 blocks, ragged), an MXFP4 pair and a BF16 tensor. */
    byte[] quantisedSeed() throws IOException {
        Path dir = tmp.resolve("seed");
        try (SafetensorsWriter w = new SafetensorsWriter(dir, 1 << 20, java.util.Map.of("format", "pt"))) {
            byte[] fp8 = new byte[3 * 130];
            new Random(1).nextBytes(fp8);
            for (int i = 0; i < fp8.length; i++) if ((fp8[i] & 0x7f) == 0x7f) fp8[i] = 1;
            w.add("l.weight", DType.F8_E4M3, new long[]{3, 130}, ByteBuffer.wrap(fp8));
            w.addFloats("l.weight_scale_inv", DType.F32, new long[]{1, 2}, new float[]{0.5f, 0.25f});
            byte[] blocks = new byte[2 * 2 * 16];
            new Random(2).nextBytes(blocks);
            w.add("e.up_blocks", DType.U8, new long[]{2, 2, 16}, ByteBuffer.wrap(blocks));
            w.add("e.up_scales", DType.U8, new long[]{2, 2}, ByteBuffer.wrap(new byte[]{127, (byte) 128, 120, (byte) 130}));
            w.addFloats("n.weight", DType.BF16, new long[]{4}, new float[]{1, 2, 3, 4});
            w.finish();
        }
        Path f = dir.resolve(Checkpoint.SINGLE);
        byte[] b = Files.readAllBytes(f);
        Files.delete(f);
        return b;
    }

    static void readEverything(Path file) {
        try (Checkpoint c = Checkpoint.openFile(file)) {
            for (LogicalTensor t : c.logical().all()) {
                float[] v = t.toFloatArray();
                assertEquals(t.elementCount(), v.length);
            }
            for (String n : c.names()) {
                Tensor t = c.tensor(n);
                if (t.elementCount() > 0) t.getLong(t.elementCount() - 1);
            }
        }
    }

    static byte[] flipBits(byte[] seed, Random rnd, boolean inHeader) {
        byte[] b = seed.clone();
        long headerLen = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        int limit = inHeader ? (int) Math.min(b.length, 8 + headerLen) : b.length;
        int flips = 1 + rnd.nextInt(8);
        for (int k = 0; k < flips; k++) {
            int pos = rnd.nextInt(limit);
            b[pos] ^= (byte) (1 << rnd.nextInt(8));
        }
        return b;
    }

    /** Textual edits of the header JSON; the length field is usually fixed up so the JSON itself is tested. */
    static byte[] mutateHeader(byte[] seed, Random rnd) {
        ByteBuffer in = ByteBuffer.wrap(seed).order(ByteOrder.LITTLE_ENDIAN);
        int headerLen = (int) in.getLong(0);
        String h = new String(seed, 8, headerLen, StandardCharsets.UTF_8);
        StringBuilder s = new StringBuilder(h);
        int edits = 1 + rnd.nextInt(3);
        for (int k = 0; k < edits; k++) {
            int pos = rnd.nextInt(s.length() + 1);
            switch (rnd.nextInt(5)) {
                case 0 -> { if (pos < s.length()) s.deleteCharAt(pos); }
                case 1 -> s.insert(pos, TOKENS[rnd.nextInt(TOKENS.length)]);
                case 2 -> { if (pos < s.length()) s.setCharAt(pos, (char) rnd.nextInt(128)); }
                case 3 -> {   // change a number: the commonest way to move offsets and shapes
                    int d = indexOfDigit(s, pos);
                    if (d >= 0) s.replace(d, d + 1, String.valueOf(rnd.nextInt(10)));
                }
                default -> {  // swap a dtype
                    int q = s.indexOf("\"dtype\":\"", pos);
                    if (q >= 0) {
                        int start = q + 9, end = s.indexOf("\"", start);
                        if (end > 0) s.replace(start, end, DTYPES[rnd.nextInt(DTYPES.length)]);
                    }
                }
            }
        }
        byte[] header = s.toString().getBytes(StandardCharsets.UTF_8);
        byte[] data = Arrays.copyOfRange(seed, 8 + headerLen, seed.length);
        long declared = rnd.nextInt(10) == 0 ? header.length + rnd.nextInt(21) - 10 : header.length;
        return concat(declared, header, data);
    }

    static int indexOfDigit(StringBuilder s, int from) {
        for (int i = from; i < s.length(); i++) if (Character.isDigit(s.charAt(i))) return i;
        return -1;
    }

    /** A header of random entries over a data area of random size. */
    static byte[] randomHeader(Random rnd) {
        int dataSize = rnd.nextInt(200);
        StringBuilder s = new StringBuilder("{");
        if (rnd.nextBoolean()) s.append("\"__metadata__\":{\"format\":\"pt\"},");
        int n = rnd.nextInt(5);
        long offset = 0;
        for (int i = 0; i < n; i++) {
            String dtype = DTYPES[rnd.nextInt(DTYPES.length)];
            int rank = rnd.nextInt(4);
            long[] shape = new long[rank];
            long count = 1;
            for (int d = 0; d < rank; d++) {
                shape[d] = rnd.nextInt(6);
                count *= shape[d];
            }
            long width = DType.fromHeader(dtype).map(DType::byteSize).orElse(1);
            long begin = rnd.nextInt(4) == 0 ? rnd.nextInt(dataSize + 1) : offset;
            long end = rnd.nextInt(4) == 0 ? begin + rnd.nextInt(40) - 5 : begin + count * width;
            offset = Math.max(offset, end);
            String name = rnd.nextInt(8) == 0 ? "w_scale_inv" : rnd.nextInt(8) == 0 ? "p_blocks"
                    : rnd.nextInt(8) == 0 ? "p_scales" : rnd.nextInt(8) == 0 ? "w" : "t" + i;
            s.append(i == 0 ? "" : ",").append('"').append(name).append("\":{\"dtype\":\"").append(dtype)
                    .append("\",\"shape\":").append(Arrays.toString(shape).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(begin).append(',').append(end).append("]}");
        }
        s.append('}');
        byte[] data = new byte[dataSize];
        rnd.nextBytes(data);
        byte[] header = s.toString().getBytes(StandardCharsets.UTF_8);
        return concat(header.length, header, data);
    }

    static byte[] randomBytes(Random rnd) {
        byte[] b = new byte[rnd.nextInt(300)];
        rnd.nextBytes(b);
        if (b.length >= 8 && rnd.nextBoolean()) {   // a plausible header length over random content
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, rnd.nextInt(b.length - 7));
            if (b.length > 8) b[8] = '{';
        }
        return b;
    }

    static byte[] concat(long declared, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        return b.putLong(declared).put(header).put(data).array();
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b, 0, Math.min(b.length, 600));
    }
}
