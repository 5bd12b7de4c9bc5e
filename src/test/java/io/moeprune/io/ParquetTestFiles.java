package io.moeprune.io;

import org.xerial.snappy.Snappy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/**
 * Writes small Parquet files for tests, since hardwood only reads and the machine has no pyarrow: one row group,
 * PLAIN data pages (v1), uncompressed, Snappy or gzip, the footer in Thrift compact encoding, as the Parquet format specification
 * (parquet.thrift) lays it out. Columns: optional UTF8 strings (null allowed) and, optionally, a {@code messages}
 * column of list&lt;struct&lt;role: string, content: string&gt;&gt; (the shape of chat data sets) in the standard
 * three-level LIST layout.
 */
public final class ParquetTestFiles {
    private static final int BYTE_ARRAY = 6, OPTIONAL = 1, REQUIRED = 0, REPEATED = 2, UTF8 = 0, LIST = 3, PLAIN = 0, RLE = 3;

    private ParquetTestFiles() {
    }

    /** A column chunk's leaf: its path, its non-null values, and its levels (null when its maximum level is 0). */
    private record Leaf(List<String> path, List<String> values, int[] repetition, int[] definition) {
    }

    public static Path write(Path file, Map<String, List<String>> strings, List<List<Map<String, String>>> messages) throws IOException {
        return write(file, strings, messages, Codec.UNCOMPRESSED);
    }

    /** Page compression codecs (parquet.thrift's CompressionCodec). */
    public enum Codec {
        UNCOMPRESSED, SNAPPY, GZIP, ZSTD;

        int id() {
            return this == ZSTD ? 6 : ordinal();
        }

        byte[] compress(byte[] plain) throws IOException {
            return switch (this) {
                case UNCOMPRESSED -> plain;
                case SNAPPY -> Snappy.compress(plain);
                case GZIP -> {
                    ByteArrayOutputStream b = new ByteArrayOutputStream();
                    try (var gz = new GZIPOutputStream(b)) {
                        gz.write(plain);
                    }
                    yield b.toByteArray();
                }
                case ZSTD -> plain; // not compressed: only used to see that a codec the jar lacks is refused
            };
        }
    }

    /** As above, with the pages compressed by {@code codec}. */
    public static Path write(Path file, Map<String, List<String>> strings, List<List<Map<String, String>>> messages,
                             Codec codec) throws IOException {
        int rows = messages != null ? messages.size() : strings.values().iterator().next().size();
        List<Leaf> leaves = new ArrayList<>();
        for (var e : strings.entrySet()) {
            List<String> values = e.getValue().stream().filter(java.util.Objects::nonNull).toList();
            int[] def = e.getValue().stream().mapToInt(v -> v == null ? 0 : 1).toArray();
            leaves.add(new Leaf(List.of(e.getKey()), values, null, def));
        }
        if (messages != null) {
            for (String key : List.of("role", "content")) {
                List<String> values = new ArrayList<>();
                List<Integer> rep = new ArrayList<>();
                for (List<Map<String, String>> row : messages) {
                    for (int i = 0; i < row.size(); i++) {
                        values.add(row.get(i).get(key));
                        rep.add(i == 0 ? 0 : 1);
                    }
                }
                int[] levels = rep.stream().mapToInt(Integer::intValue).toArray();
                leaves.add(new Leaf(List.of("messages", "list", "element", key), values, levels, new int[levels.length]));
                java.util.Arrays.fill(leaves.getLast().definition(), 1);
            }
        }

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("PAR1".getBytes(StandardCharsets.US_ASCII));
        Thrift footer = new Thrift();
        footer.i32(1, 1);
        footer.list(2, 12, 1 + strings.size() + (messages == null ? 0 : 5));
        footer.element(); footer.bin(4, "schema"); footer.i32(5, strings.size() + (messages == null ? 0 : 1)); footer.end();
        for (String name : strings.keySet()) schemaLeaf(footer, name, OPTIONAL);
        if (messages != null) {
            footer.element(); footer.i32(3, REQUIRED); footer.bin(4, "messages"); footer.i32(5, 1); footer.i32(6, LIST); footer.end();
            footer.element(); footer.i32(3, REPEATED); footer.bin(4, "list"); footer.i32(5, 1); footer.end();
            footer.element(); footer.i32(3, REQUIRED); footer.bin(4, "element"); footer.i32(5, 2); footer.end();
            schemaLeaf(footer, "role", REQUIRED);
            schemaLeaf(footer, "content", REQUIRED);
        }
        footer.i64(3, rows);
        footer.list(4, 12, 1);
        footer.element();
        footer.list(1, 12, leaves.size());
        long totalBytes = 0;
        for (Leaf leaf : leaves) {
            long offset = out.size();
            byte[] plain = page(leaf), page = codec.compress(plain);
            Thrift header = new Thrift();
            int numValues = leaf.definition().length;
            header.i32(1, 0);
            header.i32(2, plain.length);
            header.i32(3, page.length);
            header.struct(5); header.i32(1, numValues); header.i32(2, PLAIN); header.i32(3, RLE); header.i32(4, RLE); header.end();
            header.stop();
            out.writeBytes(header.bytes());
            out.writeBytes(page);
            long size = out.size() - offset;
            totalBytes += size;
            footer.element();
            footer.i64(2, offset);
            footer.struct(3);
            footer.i32(1, BYTE_ARRAY);
            footer.list(2, 5, 2); footer.raw(Thrift.zigzag(PLAIN)); footer.raw(Thrift.zigzag(RLE));
            footer.list(3, 8, leaf.path().size());
            for (String p : leaf.path()) footer.rawBin(p);
            footer.i32(4, codec.id());
            footer.i64(5, numValues);
            footer.i64(6, size - page.length + plain.length);
            footer.i64(7, size);
            footer.i64(9, offset);
            footer.end();
            footer.end();
        }
        footer.i64(2, totalBytes);
        footer.i64(3, rows);
        footer.end();
        footer.stop();
        byte[] meta = footer.bytes();
        out.writeBytes(meta);
        out.writeBytes(new byte[]{(byte) meta.length, (byte) (meta.length >> 8), (byte) (meta.length >> 16), (byte) (meta.length >> 24)});
        out.writeBytes("PAR1".getBytes(StandardCharsets.US_ASCII));
        Files.write(file, out.toByteArray());
        return file;
    }

    private static void schemaLeaf(Thrift t, String name, int repetition) {
        t.element(); t.i32(1, BYTE_ARRAY); t.i32(3, repetition); t.bin(4, name); t.i32(6, UTF8); t.end();
    }

    /** Repetition levels, definition levels (each as RLE runs of one value behind a 4-byte length), PLAIN values. */
    private static byte[] page(Leaf leaf) {
        ByteArrayOutputStream page = new ByteArrayOutputStream();
        if (leaf.repetition() != null) levels(page, leaf.repetition());
        levels(page, leaf.definition());
        for (String v : leaf.values()) {
            byte[] b = v.getBytes(StandardCharsets.UTF_8);
            littleEndian(page, b.length);
            page.writeBytes(b);
        }
        return page.toByteArray();
    }

    private static void levels(ByteArrayOutputStream page, int[] levels) {
        ByteArrayOutputStream runs = new ByteArrayOutputStream();
        for (int level : levels) {
            runs.write(1 << 1); // an RLE run of length 1 (bit width 1: the value takes one byte)
            runs.write(level);
        }
        littleEndian(page, runs.size());
        page.writeBytes(runs.toByteArray());
    }

    private static void littleEndian(ByteArrayOutputStream out, int v) {
        out.write(v);
        out.write(v >> 8);
        out.write(v >> 16);
        out.write(v >> 24);
    }

    /** The Thrift compact protocol, as much of it as a Parquet footer and page header need. */
    private static final class Thrift {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final Deque<Integer> lastIds = new ArrayDeque<>();
        private int lastId;

        void i32(int id, int v) {
            field(id, 5);
            raw(zigzag(v));
        }

        void i64(int id, long v) {
            field(id, 6);
            raw(zigzag(v));
        }

        void bin(int id, String s) {
            field(id, 8);
            rawBin(s);
        }

        void rawBin(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            raw(b.length);
            out.writeBytes(b);
        }

        void list(int id, int elementType, int size) {
            field(id, 9);
            if (size < 15) out.write(size << 4 | elementType);
            else {
                out.write(0xF0 | elementType);
                raw(size);
            }
        }

        void struct(int id) {
            field(id, 12);
            element();
        }

        /** Starts a struct that is a list element (no field header). */
        void element() {
            lastIds.push(lastId);
            lastId = 0;
        }

        void end() {
            out.write(0);
            lastId = lastIds.pop();
        }

        /** Ends the top-level struct. */
        void stop() {
            out.write(0);
        }

        private void field(int id, int type) {
            out.write((id - lastId) << 4 | type);
            lastId = id;
        }

        static long zigzag(long v) {
            return (v << 1) ^ (v >> 63);
        }

        void raw(long varint) {
            long v = varint;
            while ((v & ~0x7FL) != 0) {
                out.write((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            out.write((int) v);
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }
}
