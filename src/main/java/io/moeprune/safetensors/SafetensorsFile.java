package io.moeprune.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.moeprune.MoepruneException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One safetensors file, memory-mapped once as a single {@link MemorySegment} (no 2 GiB limit), with its header
 * parsed and validated. Tensors are views into the mapping: nothing is copied.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Headers larger than this are refused as corrupt (the reference implementation uses the same bound). */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;
    /**
     * Strict JSON: duplicate keys and anything after the top-level value are errors, so a header means exactly
     * one thing (Jackson's default nesting and length limits bound what a hostile header can cost).
     */
    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path path;
    /** Kept open so that {@link #requireIntact()} can fstat the mapped file itself, whatever its path now names. */
    private final FileChannel channel;
    private final Arena arena;
    private final MemorySegment mapping;
    /**
     * The same memory (scope, read-only) as a plain native segment, which every {@link Tensor} slices: the kernels'
     * Vector API loads then see one segment class whether weights are mapped or copied into memory of their own
     * (serve's resident experts, {@code Arena.allocate}). With both classes in one process C2 inlined the loads'
     * segment calls for two receivers, the one-row BF16 kernel (dot8Bf16) passed its inlining budget and boxed its
     * vectors: pattern-served decode ran 3x slower than the mapped model's (2026-12-07, issue 21).
     */
    private final MemorySegment tensorMemory;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, Arena arena, MemorySegment mapping, long dataStart,
                            Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.arena = arena;
        this.mapping = mapping;
        this.tensorMemory = mapping.reinterpret(mapping.byteSize());
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps and validates a file; every problem is a {@link MoepruneException} naming the file. */
    public static SafetensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        FileChannel ch = null;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
            long size = ch.size();
            if (size < 8) {
                throw MoepruneException.inFile(path, "truncated safetensors file: " + size + " bytes, no header length");
            }
            // The header is read and validated before anything is mapped: a bad file costs no mapping.
            long headerLen = readFully(ch, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            if (headerLen < 0 || headerLen > size - 8) {
                throw MoepruneException.inFile(path, "header length " + Long.toUnsignedString(headerLen)
                        + " goes beyond the end of the file (" + size + " bytes): truncated or not a safetensors file");
            }
            if (headerLen > MAX_HEADER_BYTES) {
                throw MoepruneException.inFile(path, "header of " + headerLen + " bytes is larger than the "
                        + MAX_HEADER_BYTES + "-byte limit");
            }
            byte[] header = readFully(ch, 8, (int) headerLen).array();
            long dataStart = 8 + headerLen;
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, TensorInfo> tensors = parseHeader(path, header, size - dataStart, metadata);
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return new SafetensorsFile(path, ch, arena, map, dataStart, tensors, metadata);
        } catch (NoSuchFileException e) {
            release(ch, arena);
            throw MoepruneException.inFile(path, "file not found");
        } catch (IOException e) {
            release(ch, arena);
            throw MoepruneException.inFile(path, "cannot read: " + describe(e));
        } catch (MoepruneException e) {
            release(ch, arena);
            throw oneLine(e);
        } catch (RuntimeException | StackOverflowError e) {
            // Nothing else may escape for a bad file: whatever a hostile header provokes becomes a one-line error.
            release(ch, arena);
            throw new MoepruneException(path + ": cannot read safetensors file: " + describe(e), e);
        }
    }

    private static void release(FileChannel ch, Arena arena) {
        arena.close();
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // nothing was written: closing a read-only channel cannot lose data
            }
        }
    }

    /**
     * Throws when the file has become shorter than its mapping (truncated while mapped). Reading a mapped page
     * beyond the new end raises SIGBUS, which the JVM turns into an InternalError only in some code paths and
     * otherwise into a crash, so runners call this at cheap points (one fstat) before touching the weights.
     */
    public void requireIntact() {
        long now;
        try {
            now = channel.size();
        } catch (IOException e) {
            return;   // cannot tell; the mapping itself is what matters
        }
        if (now < mapping.byteSize()) {
            throw new MoepruneException(path + ": shrank from " + mapping.byteSize() + " to " + now
                    + " bytes while in use (truncated or rewritten in place); the run stopped", MoepruneException.FAILED, null);
        }
    }

    private static ByteBuffer readFully(FileChannel ch, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        while (b.hasRemaining()) {
            if (ch.read(b, pos + b.position()) < 0) throw new IOException("file shrank while reading its header");
        }
        return b.flip();
    }

    static Map<String, TensorInfo> parseHeader(Path path, byte[] header, long dataSize, Map<String, String> metadata) {
        String text;
        try {
            // The format requires UTF-8; decoding strictly refuses a header that a lenient decoder would garble.
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(header)).toString();
        } catch (CharacterCodingException e) {
            throw MoepruneException.inFile(path, "header is not valid UTF-8");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (IOException e) {
            throw MoepruneException.inFile(path, "header is not valid JSON: " + firstLine(e.getMessage()));
        }
        if (root == null || !root.isObject()) {
            throw MoepruneException.inFile(path, "header is not a JSON object");
        }
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw MoepruneException.inFile(path, "__metadata__ is not a JSON object");
                v.properties().iterator().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) {
                        throw MoepruneException.inFile(path, "__metadata__ value for '" + m.getKey() + "' is not a string");
                    }
                    metadata.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            tensors.put(name, parseEntry(path, name, v, dataSize));
        }
        checkContiguous(path, tensors.values(), dataSize);
        return Collections.unmodifiableMap(tensors);
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode v, long dataSize) {
        String where = "tensor '" + name + "': ";
        if (!v.isObject()) throw MoepruneException.inFile(path, where + "entry is not a JSON object");
        JsonNode dt = v.get("dtype");
        if (dt == null || !dt.isTextual()) throw MoepruneException.inFile(path, where + "missing dtype");
        DType dtype = DType.fromHeader(dt.asText()).orElseThrow(
                () -> MoepruneException.inFile(path, where + "unknown dtype '" + dt.asText() + "'"));
        JsonNode sh = v.get("shape");
        if (sh == null || !sh.isArray()) throw MoepruneException.inFile(path, where + "missing shape");
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
                throw MoepruneException.inFile(path, where + "shape entry " + d + " is not a non-negative integer");
            }
            shape[i] = d.asLong();
        }
        JsonNode off = v.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber()
                || !off.get(1).isIntegralNumber() || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong()) {
            throw MoepruneException.inFile(path, where + "data_offsets must be two integers");
        }
        long begin = off.get(0).asLong(), end = off.get(1).asLong();
        if (begin < 0 || end < begin) {
            throw MoepruneException.inFile(path, where + "data_offsets [" + begin + ", " + end + "] are not increasing");
        }
        if (end > dataSize) {
            throw MoepruneException.inFile(path, where + "data_offsets [" + begin + ", " + end
                    + "] go beyond the data area (" + dataSize + " bytes): file truncated or header corrupt");
        }
        long elements;
        try {
            elements = 1;
            for (long d : shape) elements = Math.multiplyExact(elements, d);
            long expected = Math.multiplyExact(elements, dtype.byteSize());
            if (expected != end - begin) {
                throw MoepruneException.inFile(path, where + "shape " + java.util.Arrays.toString(shape) + " of "
                        + dtype + " needs " + expected + " bytes but data_offsets give " + (end - begin));
            }
        } catch (ArithmeticException e) {
            throw MoepruneException.inFile(path, where + "shape " + java.util.Arrays.toString(shape) + " is too large");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /**
     * The data area must be exactly the tensors laid end to end from offset 0 to the end of the file, as the
     * reference implementation requires (8 + header length + data size = file size): an overlap means two tensors
     * share bytes, a gap or a tail means the header length or an offset is wrong (e.g. a header length shortened
     * into its own padding shifts every tensor).
     */
    private static void checkContiguous(Path path, java.util.Collection<TensorInfo> infos, long dataSize) {
        List<TensorInfo> sorted = new ArrayList<>(infos);
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long expectedBegin = 0;
        TensorInfo prev = null;
        for (TensorInfo t : sorted) {
            if (t.begin() < expectedBegin) {
                throw MoepruneException.inFile(path, "tensors '" + prev.name() + "' and '" + t.name()
                        + "' overlap in the data area");
            }
            if (t.begin() > expectedBegin) {
                throw MoepruneException.inFile(path, "gap of " + (t.begin() - expectedBegin) + " bytes before tensor '"
                        + t.name() + "' in the data area: header length or data_offsets corrupt");
            }
            expectedBegin = t.end();
            prev = t;
        }
        if (expectedBegin != dataSize) {
            throw MoepruneException.inFile(path, "tensors end at data offset " + expectedBegin + " but the data area has "
                    + dataSize + " bytes (8 + header length + data must equal the file size): header length corrupt");
        }
    }

    static String firstLine(String s) {
        if (s == null) return "";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** The same error with a message safe to print on one line (header strings may hold control characters). */
    static MoepruneException oneLine(MoepruneException e) {
        String m = e.getMessage();
        String clean = oneLine(m);
        return clean.equals(m) ? e : new MoepruneException(clean, e.exitCode(), e.getCause());
    }

    static String oneLine(String s) {
        return MoepruneException.oneLine(s);
    }

    /** A one-line description of an exception, for messages: its first line, or its type when it has none. */
    static String describe(Throwable e) {
        String m = firstLine(e.getMessage());
        if (e instanceof java.nio.file.FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        return m.isEmpty() ? e.getClass().getSimpleName() : m;
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** Offset in the file of the first data byte; tensor offsets are relative to it. */
    public long dataStart() {
        return dataStart;
    }

    public long fileSize() {
        return mapping.byteSize();
    }

    public Tensor tensor(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) throw MoepruneException.inFile(path, "no tensor named '" + name + "'");
        return new Tensor(info, tensorMemory.asSlice(dataStart + info.begin(), info.byteSize()), path);
    }

    /** Whether {@code range} lies inside this file's mapping (the memory its tensors are read from). */
    public boolean maps(MemorySegment range) {
        long start = tensorMemory.address();
        return range.address() >= start && range.address() + range.byteSize() <= start + tensorMemory.byteSize();
    }

    /** The whole mapping, for byte-level copies. */
    public MemorySegment mapping() {
        return mapping;
    }

    @Override
    public void close() {
        release(channel, arena);
    }
}
