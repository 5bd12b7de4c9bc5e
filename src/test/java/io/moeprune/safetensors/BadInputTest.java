package io.moeprune.safetensors;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every kind of bad checkpoint is one MoepruneException whose one-line message names the file and the problem. */
class BadInputTest {
    @TempDir
    Path tmp;

    static void assertBad(Path file, String problem, Executable open) {
        MoepruneException e = assertThrows(MoepruneException.class, open);
        String m = e.getMessage();
        assertFalse(m.contains("\n") || m.contains("\r"), "one line: " + m);
        assertTrue(m.startsWith(file.toString()), "names " + file + ": " + m);
        assertTrue(m.contains(problem), "says '" + problem + "': " + m);
        assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
    }

    Path model(String header, byte[] data) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("m"));
        return RawFiles.write(dir.resolve("model.safetensors"), header, data);
    }

    @Test
    void validFileReads() throws IOException {
        Path f = tmp.resolve("ok.safetensors");
        Files.write(f, RawFiles.valid());
        try (SafetensorsFile s = SafetensorsFile.open(f)) {
            assertArrayEquals(new float[]{0, 1, 2, 3, 4, 5}, s.tensor("a").toFloatArray());
            assertArrayEquals(new float[]{1, 2, 3, 4}, s.tensor("b").toFloatArray());
            assertEquals("pt", s.metadata().get("format"));
            assertEquals(0, s.dataStart() % 8);
        }
    }

    @Test
    void missingDirectory() {
        Path dir = tmp.resolve("nope");
        assertBad(dir, "not found", () -> Checkpoint.open(dir));
    }

    @Test
    void directoryWithoutWeights() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("empty"));
        assertBad(dir, "no model.safetensors", () -> Checkpoint.open(dir));
    }

    @Test
    void missingShard() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("sharded"));
        Files.write(dir.resolve("model-00001-of-00002.safetensors"), RawFiles.valid());
        Path index = dir.resolve(Checkpoint.INDEX);
        Files.writeString(index, "{\"metadata\":{\"total_size\":32},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                + "\"c\":\"model-00002-of-00002.safetensors\"}}");
        assertBad(index, "model-00002-of-00002.safetensors', which is missing", () -> Checkpoint.open(dir));
    }

    @Test
    void indexNamesTensorTheShardLacks() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("sharded"));
        Path shard = dir.resolve("model-00001-of-00001.safetensors");
        Files.write(shard, RawFiles.valid());
        Files.writeString(dir.resolve(Checkpoint.INDEX), "{\"weight_map\":{\"zzz\":\"model-00001-of-00001.safetensors\"}}");
        assertBad(shard, "'zzz' but it does not", () -> Checkpoint.open(dir));
    }

    @Test
    void indexThatIsNotJson() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("sharded"));
        Path index = dir.resolve(Checkpoint.INDEX);
        Files.writeString(index, "{\"weight_map\": {");
        assertBad(index, "not valid JSON", () -> Checkpoint.open(dir));
        Files.writeString(index, "[1, 2]");
        assertBad(index, "no weight_map", () -> Checkpoint.open(dir));
        Files.writeString(index, "{\"weight_map\":{\"a\":\"../x.safetensors\"}}");
        assertBad(index, "not a plain file name", () -> Checkpoint.open(dir));
        Files.writeString(index, "{\"weight_map\":{\"a\":7}}");
        assertBad(index, "not a file name", () -> Checkpoint.open(dir));
    }

    @Test
    void truncatedShard() throws IOException {
        byte[] ok = RawFiles.valid();
        Path f = model("", new byte[0]);
        Files.write(f, Arrays.copyOf(ok, ok.length - 5));
        assertBad(f, "beyond the data area", () -> Checkpoint.open(f.getParent()));
        Files.write(f, Arrays.copyOf(ok, 5));
        assertBad(f, "truncated", () -> Checkpoint.open(f.getParent()));
        Files.write(f, new byte[0]);
        assertBad(f, "truncated", () -> Checkpoint.open(f.getParent()));
    }

    @Test
    void headerLengthBeyondTheFile() throws IOException {
        Path f = RawFiles.write(tmp.resolve("x.safetensors"), 1000, "{}".getBytes(), new byte[0]);
        assertBad(f, "header length 1000 goes beyond the end of the file", () -> SafetensorsFile.open(f));
        Path g = RawFiles.write(tmp.resolve("y.safetensors"), -1, "{}".getBytes(), new byte[0]);
        assertBad(g, "header length 18446744073709551615", () -> SafetensorsFile.open(g));
    }

    @Test
    void headerThatIsNotJson() throws IOException {
        Path f = model("{\"a\": {\"dtype\": \"F32\", ", new byte[0]);
        assertBad(f, "header is not valid JSON", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "[1,2,3]", new byte[0]);
        assertBad(f, "not a JSON object", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{} {}", new byte[0]);
        assertBad(f, "header is not valid JSON", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, 2, new byte[]{(byte) 0xc3, (byte) 0x28}, new byte[0]);
        assertBad(f, "not valid UTF-8", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]);
        assertBad(f, "Duplicate field 'a'", () -> Checkpoint.open(f.getParent()));
    }

    @Test
    void offsetsOutOfRange() throws IOException {
        Path f = model("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[8]);
        assertBad(f, "tensor 'a': data_offsets [4, 12] go beyond the data area (8 bytes)",
                () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", new byte[8]);
        assertBad(f, "are not increasing", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", new byte[8]);
        assertBad(f, "are not increasing", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", new byte[8]);
        assertBad(f, "data_offsets must be two integers", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0, 99999999999999999999999]}}", new byte[8]);
        assertBad(f, "data_offsets must be two integers", () -> Checkpoint.open(f.getParent()));
    }

    @Test
    void overlappingOffsets() throws IOException {
        Path f = model("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]);
        assertBad(f, "tensors 'a' and 'b' overlap", () -> Checkpoint.open(f.getParent()));
    }

    @Test
    void headerLengthShortenedIntoItsPadding() throws IOException {
        byte[] header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}        "
                .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        Path f = RawFiles.write(tmp.resolve("pad.safetensors"), header.length, header, new byte[4]);
        try (SafetensorsFile ok = SafetensorsFile.open(f)) {
            assertEquals(1, ok.tensors().size(), "padded with spaces is valid");
        }
        // Still valid JSON (the cut is in the padding), but the tensor now starts 4 bytes early.
        RawFiles.write(f, header.length - 4, header, new byte[4]);
        assertBad(f, "tensors end at data offset 4 but the data area has 8 bytes", () -> SafetensorsFile.open(f));
    }

    @Test
    void gapsAndTailsInTheDataArea() throws IOException {
        Path f = model("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", new byte[12]);
        assertBad(f, "gap of 4 bytes before tensor 'b'", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]);
        assertBad(f, "gap of 4 bytes before tensor 'a'", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[8]);
        assertBad(f, "tensors end at data offset 4 but the data area has 8 bytes", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]);
        try (Checkpoint c = Checkpoint.open(f.getParent())) {
            assertEquals(2, c.names().size(), "an empty tensor at the end of the data is fine");
        }
    }

    @Test
    void unknownDtype() throws IOException {
        Path f = model("{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", new byte[1]);
        assertBad(f, "tensor 'a': unknown dtype 'F4'", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"shape\":[2],\"data_offsets\":[0,1]}}", new byte[1]);
        assertBad(f, "missing dtype", () -> Checkpoint.open(f.getParent()));
    }

    @Test
    void shapeAndByteSizeDisagree() throws IOException {
        Path f = model("{\"a\":{\"dtype\":\"BF16\",\"shape\":[3,2],\"data_offsets\":[0,8]}}", new byte[8]);
        assertBad(f, "shape [3, 2] of BF16 needs 12 bytes but data_offsets give 8", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", new byte[8]);
        assertBad(f, "is too large", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[-4],\"data_offsets\":[0,8]}}", new byte[8]);
        assertBad(f, "is not a non-negative integer", () -> Checkpoint.open(f.getParent()));
        RawFiles.write(f, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2.0],\"data_offsets\":[0,4]}}", new byte[8]);
        assertBad(f, "is not a non-negative integer", () -> Checkpoint.open(f.getParent()));
    }

    @Test
    void controlCharactersInNamesStayOnOneLine() throws IOException {
        Path f = model("{\"a\\nb\":{\"dtype\":\"X\",\"shape\":[2],\"data_offsets\":[0,1]}}", new byte[1]);
        assertBad(f, "unknown dtype 'X'", () -> Checkpoint.open(f.getParent()));
    }

    @Test
    void badMetadata() throws IOException {
        Path f = model("{\"__metadata__\":{\"format\":1}}", new byte[0]);
        assertBad(f, "__metadata__ value for 'format' is not a string", () -> Checkpoint.open(f.getParent()));
    }

    @Test
    void quantisedCompanionsThatDoNotFit() throws IOException {
        Path f = model("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,300],\"data_offsets\":[0,600]},"
                + "\"w_scale_inv\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[600,608]}}", new byte[608]);
        try (Checkpoint c = Checkpoint.open(f.getParent())) {
            assertBad(f, "does not fit weight shape [2, 300] with 128x128 blocks", c::logical);
        }
        RawFiles.write(f, "{\"p_blocks\":{\"dtype\":\"U8\",\"shape\":[2,15],\"data_offsets\":[0,30]},"
                + "\"p_scales\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[30,32]}}", new byte[32]);
        try (Checkpoint c = Checkpoint.open(f.getParent())) {
            assertBad(f, "should be [..., G, 16] and [..., G]", c::logical);
        }
        Path config = f.getParent().resolve("config.json");
        Files.writeString(config, "{\"quantization_config\":{\"weight_block_size\":[128]}}");
        assertBad(config, "is not two positive integers", () -> LogicalTensors.BlockSize.of(f.getParent()));
    }

    @Test
    void directoryInsteadOfFile() throws IOException {
        Path d = Files.createDirectories(tmp.resolve("m/model.safetensors"));
        assertBad(d.getParent(), "no model.safetensors", () -> Checkpoint.open(d.getParent()));
        assertBad(d, "", () -> SafetensorsFile.open(d));
    }
}
