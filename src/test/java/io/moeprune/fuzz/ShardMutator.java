package io.moeprune.fuzz;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;

/** Corruptions of a safetensors file, by mutation class (the classes of issue 17). */
final class ShardMutator {
    enum Kind { TRUNCATION, HEADER_LENGTH, HEADER_BYTES, HEADER_FIELDS, DATA }

    static final String[] DTYPES = {"F64", "F32", "F16", "BF16", "I8", "U8", "I64", "BOOL", "F8_E4M3", "F8_E5M2",
            "F4", "bf16", "", "C64"};
    static final String[] NUMBERS = {"-1", "0", "1", "7", "4096", "2147483647", "2147483648", "9223372036854775807",
            "18446744073709551616", "1e400", "1.5", "-0", "99999999999999999999999"};

    private ShardMutator() {
    }

    static byte[] mutate(byte[] seed, Kind kind, Random rnd) {
        long headerLen = ByteBuffer.wrap(seed).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        return switch (kind) {
            case TRUNCATION -> Arrays.copyOf(seed, rnd.nextBoolean() ? rnd.nextInt(seed.length)
                    : Math.max(0, seed.length - 1 - rnd.nextInt(64)));
            case HEADER_LENGTH -> withHeaderLength(seed, switch (rnd.nextInt(5)) {
                case 0 -> headerLen - 1 - rnd.nextInt(8);                  // into the padding or the JSON's end
                case 1 -> headerLen + 1 + rnd.nextInt(64);                 // into the data
                case 2 -> rnd.nextLong();                                  // anything, negative included
                case 3 -> (long) seed.length - 8 + rnd.nextInt(3) - 1;     // around the whole file
                default -> headerLen ^ (1L << rnd.nextInt(64));
            });
            case HEADER_BYTES -> headerBytes(seed, (int) headerLen, rnd);
            case HEADER_FIELDS -> headerFields(seed, (int) headerLen, rnd);
            case DATA -> data(seed, (int) headerLen, rnd);
        };
    }

    static byte[] withHeaderLength(byte[] seed, long len) {
        byte[] b = seed.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, len);
        return b;
    }

    /** Bit flips and random bytes inside the header JSON (may break UTF-8 or the JSON). */
    private static byte[] headerBytes(byte[] seed, int headerLen, Random rnd) {
        byte[] b = seed.clone();
        for (int k = 1 + rnd.nextInt(6); k > 0; k--) {
            int pos = 8 + rnd.nextInt(Math.max(1, headerLen));
            if (pos >= b.length) continue;
            b[pos] = rnd.nextBoolean() ? (byte) (b[pos] ^ (1 << rnd.nextInt(8))) : (byte) rnd.nextInt(256);
        }
        return b;
    }

    /**
     * Textual edits of the header's fields: dtypes, shapes, offsets (overlapping, gapped, out of range, huge),
     * keys renamed or dropped; the header length is fixed up so that the JSON itself is what gets tested.
     */
    private static byte[] headerFields(byte[] seed, int headerLen, Random rnd) {
        StringBuilder h = new StringBuilder(new String(seed, 8, headerLen, StandardCharsets.UTF_8).stripTrailing());
        for (int k = 1 + rnd.nextInt(3); k > 0; k--) {
            switch (rnd.nextInt(7)) {
                case 0 -> replaceValueOf(h, "\"dtype\":", "\"" + DTYPES[rnd.nextInt(DTYPES.length)] + "\"", rnd);
                case 1 -> replaceNumber(h, "\"shape\":", rnd);
                case 2 -> replaceNumber(h, "\"data_offsets\":", rnd);
                case 3 -> rename(h, new String[]{"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\""}, rnd);
                case 4 -> replaceValueOf(h, "\"shape\":", rnd.nextBoolean() ? "[]" : "[" + NUMBERS[rnd.nextInt(NUMBERS.length)]
                        + "," + NUMBERS[rnd.nextInt(NUMBERS.length)] + "]", rnd);
                case 5 -> replaceValueOf(h, "\"data_offsets\":", "[" + NUMBERS[rnd.nextInt(NUMBERS.length)] + ","
                        + NUMBERS[rnd.nextInt(NUMBERS.length)] + "]", rnd);
                default -> {   // a digit changed: shifts an offset or a dimension a little (overlaps and gaps)
                    int p = rnd.nextInt(h.length());
                    for (int i = 0; i < h.length(); i++) {
                        int q = (p + i) % h.length();
                        if (Character.isDigit(h.charAt(q))) {
                            h.setCharAt(q, (char) ('0' + rnd.nextInt(10)));
                            break;
                        }
                    }
                }
            }
        }
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        int padded = rnd.nextInt(4) == 0 ? header.length : (header.length + 7) & ~7;
        ByteBuffer out = ByteBuffer.allocate(8 + padded + seed.length - 8 - headerLen).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(header);
        while (out.position() < 8 + padded) out.put((byte) ' ');
        out.put(seed, 8 + headerLen, seed.length - 8 - headerLen);
        return out.array();
    }

    private static int nth(StringBuilder h, String key, Random rnd) {
        int count = 0;
        for (int i = h.indexOf(key); i >= 0; i = h.indexOf(key, i + 1)) count++;
        if (count == 0) return -1;
        int pick = rnd.nextInt(count), i = h.indexOf(key);
        while (pick-- > 0) i = h.indexOf(key, i + 1);
        return i + key.length();
    }

    /** Replaces the JSON value after the n-th occurrence of key (a string or an array of numbers). */
    private static void replaceValueOf(StringBuilder h, String key, String value, Random rnd) {
        int start = nth(h, key, rnd);
        if (start < 0) return;
        char open = h.charAt(start);
        int end = open == '[' ? h.indexOf("]", start) + 1 : open == '"' ? h.indexOf("\"", start + 1) + 1 : start;
        if (end > start) h.replace(start, end, value);
    }

    private static void replaceNumber(StringBuilder h, String key, Random rnd) {
        int start = nth(h, key, rnd);
        if (start < 0) return;
        int end = h.indexOf("]", start);
        int d = start;
        while (d < end && !Character.isDigit(h.charAt(d))) d++;
        if (d >= end) return;
        int e = d;
        while (e < end && Character.isDigit(h.charAt(e))) e++;
        h.replace(d, e, NUMBERS[rnd.nextInt(NUMBERS.length)]);
    }

    private static void rename(StringBuilder h, String[] keys, Random rnd) {
        String key = keys[rnd.nextInt(keys.length)];
        int at = nth(h, key, rnd);
        if (at >= 0) h.replace(at - key.length(), at, rnd.nextBoolean() ? "\"x\"" : key.toUpperCase());
    }

    /** Random bytes, NaN and infinity patterns in the data area (the header stays valid). */
    private static byte[] data(byte[] seed, int headerLen, Random rnd) {
        byte[] b = seed.clone();
        int start = 8 + headerLen;
        if (start >= b.length) return b;
        for (int k = 1 + rnd.nextInt(16); k > 0; k--) {
            int pos = start + rnd.nextInt(b.length - start);
            switch (rnd.nextInt(3)) {
                case 0 -> b[pos] = (byte) rnd.nextInt(256);
                case 1 -> b[pos] = (byte) 0xff;          // exponent all ones: NaN or infinity in f32/bf16/f16
                default -> {
                    if (pos + 1 < b.length) {
                        b[pos] = (byte) 0x80;
                        b[pos + 1] = (byte) 0x7f;          // bf16 +infinity
                    }
                }
            }
        }
        return b;
    }
}
