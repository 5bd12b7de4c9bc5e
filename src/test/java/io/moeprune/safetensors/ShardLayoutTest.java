package io.moeprune.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShardLayoutTest {
    @TempDir
    Path tmp;

    /** Data-area offsets of the planned order, checking that it is a permutation. */
    static long[] offsets(List<ShardLayout.Item> items, ShardLayout.Plan plan) {
        long[] at = new long[items.size()];
        Arrays.fill(at, -1);
        long p = 0;
        for (int i : plan.order()) {
            assertEquals(-1, at[i], "tensor " + i + " placed twice");
            at[i] = p;
            p += items.get(i).size();
        }
        for (long a : at) assertTrue(a >= 0, "a tensor was left out");
        return at;
    }

    @Test
    void largeCopiesKeepTheirPageOffsetAndSmallOnesFillTheGaps() {
        // Source order: big (page offset 1000), small 256 + 256 (the q/k norms of a layer), big, small 24 (odd-sized
        // neighbours), big. A plain layout would shift the later bigs by the small tensors pulled out of the way.
        List<ShardLayout.Item> items = List.of(
                new ShardLayout.Item(2, 1 << 20, 8 * 4096 + 1000),
                new ShardLayout.Item(2, 256, 8 * 4096 + 1000 + (1 << 20)),
                new ShardLayout.Item(2, 256, 8 * 4096 + 1000 + (1 << 20) + 256),
                new ShardLayout.Item(2, 1 << 20, 8 * 4096 + 1000 + (1 << 20) + 512),
                new ShardLayout.Item(4, 24, -1),                       // in memory
                new ShardLayout.Item(2, 1 << 19, 50 * 4096 + 1512),   // dropped bytes in between, same page offset
                new ShardLayout.Item(1, 3, -1),                        // odd size: goes last
                new ShardLayout.Item(2, 6, -1));
        ShardLayout.Plan plan = ShardLayout.plan(items);
        long[] at = offsets(items, plan);
        assertEquals(0, plan.dataStartResidue() % 8);
        for (int i : new int[]{0, 3, 5}) {
            assertEquals(items.get(i).sourceOffset() % 4096, (plan.dataStartResidue() + at[i]) % 4096, "big tensor " + i);
        }
        for (int i = 0; i < items.size(); i++) assertEquals(0, at[i] % items.get(i).width(), "alignment of " + i);
        // The sizes that are not a multiple of 8 come last, widest first.
        int[] order = plan.order();
        assertEquals(7, order[order.length - 2]);
        assertEquals(6, order[order.length - 1]);
    }

    @Test
    void everyTensorStartsAtAMultipleOfItsWidthWhateverTheSizes() {
        Random rnd = new Random(7);
        int[] widths = {1, 2, 4, 8};
        for (int round = 0; round < 200; round++) {
            List<ShardLayout.Item> items = new ArrayList<>();
            int n = 1 + rnd.nextInt(40);
            for (int i = 0; i < n; i++) {
                int w = widths[rnd.nextInt(4)];
                long elems = rnd.nextBoolean() ? rnd.nextInt(50) : 32768 + rnd.nextInt(100_000);
                long src = rnd.nextInt(3) == 0 ? -1 : (long) rnd.nextInt(1 << 30) / w * w;
                items.add(new ShardLayout.Item(w, elems * w, src));
            }
            ShardLayout.Plan plan = ShardLayout.plan(items);
            long[] at = offsets(items, plan);
            assertEquals(0, plan.dataStartResidue() % 8);
            for (int i = 0; i < n; i++) {
                assertEquals(0, (plan.dataStartResidue() + at[i]) % items.get(i).width(), "round " + round + " tensor " + i);
            }
        }
    }

    /**
     * Through the writer: a source shard whose header makes every tensor sit at an odd place within a page, copied
     * with tensors in another order and with a gap (dropped rows), read back byte for byte; the output is a valid
     * safetensors file (header padded with spaces, offsets contiguous from 0 with no holes, data up to the end), and
     * its large tensors sit at their source page offset.
     */
    @Test
    void writerOutputIsValidContiguousAndPageCongruent() throws IOException {
        Random rnd = new Random(3);
        Map<String, byte[]> data = new LinkedHashMap<>();
        data.put("big.a", random(rnd, 3 * 65536 + 512));
        data.put("norm.q", random(rnd, 256));
        data.put("norm.k", random(rnd, 256));
        data.put("dropped", random(rnd, 512));
        data.put("big.b", random(rnd, 2 * 65536));
        data.put("big.c", random(rnd, 4 * 65536));
        data.put("bias", random(rnd, 512));
        data.put("odd", random(rnd, 6));
        Path src = tmp.resolve("src.safetensors");
        writeRaw(src, data, 40);   // data area at a multiple of 8 but not of a page
        Path out = tmp.resolve("out");
        SafetensorsFile in = SafetensorsFile.open(src);
        try (in; SafetensorsWriter w = new SafetensorsWriter(out, 1L << 30, Map.of("format", "pt"))) {
            for (String n : data.keySet()) {
                if (n.equals("dropped")) continue;
                DType dt = n.equals("odd") ? DType.U8 : DType.BF16;
                long elems = data.get(n).length / dt.byteSize();
                w.add(n, dt, new long[]{elems}, TensorSource.of(in, n));
            }
            w.add("made", DType.F32, new long[]{3}, ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putFloat(1).putFloat(2).putFloat(3).flip());
            w.finish();
        }
        Path shard = out.resolve("model.safetensors");
        byte[] file = Files.readAllBytes(shard);
        long headerLen = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLen % 8);
        String header = new String(file, 8, (int) headerLen, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{"));
        assertTrue(header.stripTrailing().endsWith("}"));
        assertTrue(header.substring(header.stripTrailing().length()).chars().allMatch(c -> c == ' '), "padding is spaces");

        try (SafetensorsFile back = SafetensorsFile.open(shard)) {
            List<TensorInfo> infos = new ArrayList<>(back.tensors().values());
            infos.sort(Comparator.comparingLong(TensorInfo::begin));
            long expect = 0;
            for (TensorInfo t : infos) {
                assertEquals(expect, t.begin(), "no hole before " + t.name());
                assertEquals(0, t.begin() % t.dtype().byteSize(), "alignment of " + t.name());
                expect = t.end();
            }
            assertEquals(file.length - back.dataStart(), expect, "data ends at the end of the file");
            List<String> order = infos.stream().map(TensorInfo::name).toList();
            // The bias moves forward to fill the 1024 bytes (norms + dropped tensor) before big.b; the in-memory
            // tensor (size not a multiple of 8) and the U8 one come last, widest first.
            assertEquals(List.of("big.a", "norm.q", "norm.k", "bias", "big.b", "big.c", "made", "odd"), order);
            for (String n : data.keySet()) {
                if (n.equals("dropped")) continue;
                assertArrayEquals(data.get(n), SafetensorsWriterTest.bytes(back.tensor(n)), n);
                if (n.startsWith("big.")) {
                    long srcAt = in.dataStart() + in.tensors().get(n).begin();
                    assertNotEquals(0, srcAt % 4096);
                    assertEquals(srcAt % 4096, (back.dataStart() + back.tensors().get(n).begin()) % 4096, n);
                }
            }
            assertArrayEquals(new float[]{1, 2, 3}, back.tensor("made").data()
                    .toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN)));
        }
    }

    /** Adjacent source ranges of consecutive tensors (kept experts side by side) come out whole and in place. */
    @Test
    void runsOfAdjacentTensorsAreCopiedWhole() throws IOException {
        Random rnd = new Random(5);
        Map<String, byte[]> data = new LinkedHashMap<>();
        for (int e = 0; e < 6; e++) {
            for (String p : new String[]{"gate", "up", "down"}) data.put("experts." + e + "." + p, random(rnd, 65536 + 8 * e));
        }
        Path src = tmp.resolve("experts.safetensors");
        writeRaw(src, data, 16);
        Path out = tmp.resolve("out");
        try (SafetensorsFile in = SafetensorsFile.open(src);
             SafetensorsWriter w = new SafetensorsWriter(out, 1L << 30, Map.of())) {
            int next = 0;
            for (int e : new int[]{0, 1, 3, 4}) {   // experts 2 and 5 dropped, the others renumbered
                for (String p : new String[]{"gate", "up", "down"}) {
                    String n = "experts." + e + "." + p;
                    w.add("experts." + next + "." + p, DType.U8, new long[]{data.get(n).length}, TensorSource.of(in, n));
                }
                next++;
            }
            w.finish();
        }
        try (SafetensorsFile back = SafetensorsFile.open(out.resolve("model.safetensors"))) {
            int next = 0;
            for (int e : new int[]{0, 1, 3, 4}) {
                for (String p : new String[]{"gate", "up", "down"}) {
                    assertArrayEquals(data.get("experts." + e + "." + p),
                            SafetensorsWriterTest.bytes(back.tensor("experts." + next + "." + p)), e + "." + p);
                }
                next++;
            }
            assertEquals(12, back.tensors().size());
        }
    }

    static byte[] random(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    /**
     * A safetensors file with the tensors in the given order as U8/BF16, the header padded with spaces to a multiple
     * of 8 as the reference writer does, plus {@code extraSpaces}.
     */
    static void writeRaw(Path file, Map<String, byte[]> data, int extraSpaces) throws IOException {
        StringBuilder json = new StringBuilder("{");
        long off = 0;
        for (var e : data.entrySet()) {
            boolean odd = e.getValue().length % 2 != 0 || e.getKey().equals("odd") || e.getKey().startsWith("experts.");
            String dt = odd ? "U8" : "BF16";
            long elems = odd ? e.getValue().length : e.getValue().length / 2;
            if (json.length() > 1) json.append(',');
            json.append('"').append(e.getKey()).append("\":{\"dtype\":\"").append(dt).append("\",\"shape\":[")
                    .append(elems).append("],\"data_offsets\":[").append(off).append(',').append(off + e.getValue().length).append("]}");
            off += e.getValue().length;
        }
        json.append('}');
        json.append(" ".repeat((8 - json.length() % 8) % 8 + extraSpaces));   // ASCII JSON: chars = bytes
        byte[] h = json.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + (int) off).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (byte[] d : data.values()) b.put(d);
        Files.write(file, b.array());
    }
}
