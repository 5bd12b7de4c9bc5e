package io.moeprune.safetensors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Writes tensors into new safetensors shards the way transformers names them: {@code model.safetensors} when one
 * shard is enough, else {@code model-00001-of-0000N.safetensors} plus {@code model.safetensors.index.json}.
 *
 * <p>Tensors are streamed: {@link #add} only records where the bytes come from; when the pending tensors would
 * make the shard larger than {@code maxShardBytes}, the shard is written (header, then each tensor's bytes, copied
 * channel to channel for file sources, one transfer per run of adjacent source bytes) and forgotten. Within a shard
 * the tensors are laid out by {@link ShardLayout}: large copied tensors keep their offset within a page (the header
 * is padded with spaces to get there), which the kernel copies faster. Memory stays bounded by the descriptions
 * plus whatever in-memory sources the caller hands over for the current shard. Like transformers, the bound applies to tensor
 * bytes; a single tensor larger than the bound gets a shard of its own.
 *
 * <p>Shards are written under temporary names and renamed by {@link #finish()}, once their count is known. If
 * anything fails, or the writer is closed without {@code finish()}, every file it created is deleted.
 */
public final class SafetensorsWriter implements AutoCloseable {
    /** transformers' default {@code max_shard_size} ("5GB"). */
    public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;

    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final ObjectMapper PRETTY = JsonMapper.builder()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .build();

    /** The outcome: the shards in order, the tensor -> shard map and the index's total_size. */
    public record Result(Path dir, List<Path> shards, Map<String, String> weightMap, long totalSize) {
    }

    private record Entry(String name, DType dtype, long[] shape, TensorSource source) {
        long byteSize() {
            return source.byteSize();
        }
    }

    private final Path dir;
    private final long maxShardBytes;
    private final Map<String, String> metadata;
    private final List<Entry> pending = new ArrayList<>();
    private long pendingBytes;
    private final Set<String> names = new HashSet<>();
    private final List<Path> partials = new ArrayList<>();            // written shards, temporary names
    private final List<List<String>> shardTensors = new ArrayList<>(); // tensor names per written shard
    private final List<Path> created = new ArrayList<>();             // every file made, for clean-up
    private final Map<Path, FileChannel> sources = new HashMap<>();
    private int parallelShards = 1;
    private ExecutorService background;                               // created for the first background shard
    private final ArrayDeque<Future<?>> inFlight = new ArrayDeque<>(); // background shard writes, oldest first
    private long totalSize;
    private boolean finished, failed;

    /**
     * A writer into {@code dir} (created when missing; it must not already hold safetensors files).
     * {@code metadata} goes into every shard's {@code __metadata__} (transformers writes {"format": "pt"}).
     */
    public SafetensorsWriter(Path dir, long maxShardBytes, Map<String, String> metadata) {
        if (maxShardBytes <= 0) throw new IllegalArgumentException("maxShardBytes must be positive: " + maxShardBytes);
        this.dir = dir;
        this.maxShardBytes = maxShardBytes;
        this.metadata = new LinkedHashMap<>(metadata);
        try {
            Files.createDirectories(dir);
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
                for (Path p : ds) {
                    String n = p.getFileName().toString();
                    if (n.endsWith(".safetensors") || n.equals(Checkpoint.INDEX)) {
                        throw MoepruneException.inFile(dir, "output directory already holds " + n
                                + "; write into an empty directory");
                    }
                }
            }
        } catch (IOException e) {
            throw new MoepruneException(dir + ": cannot create output directory: " + SafetensorsFile.describe(e),
                    MoepruneException.FAILED, e);
        }
    }

    /** A writer with transformers' shard size and {"format": "pt"} metadata. */
    public static SafetensorsWriter create(Path dir) {
        return new SafetensorsWriter(dir, DEFAULT_MAX_SHARD_BYTES, Map.of("format", "pt"));
    }

    public Path dir() {
        return dir;
    }

    /**
     * Writes up to {@code n} shards at once, each on a thread of its own, while the caller adds the next shard's
     * tensors ({@link #finish()} waits for all of them). Writes into one file are serialised by the file system,
     * writes into different files are not: with free cores, the kernel copies into the page cache then run side by
     * side. A background failure is reported by the next {@code add} or {@code finish} and still removes every
     * file. In-memory sources of up to {@code n} shards are held. Default 1: every shard on the caller's thread.
     */
    public SafetensorsWriter parallelShards(int n) {
        if (n < 1) throw new IllegalArgumentException("parallelShards must be at least 1: " + n);
        checkOpen();
        this.parallelShards = n;
        return this;
    }

    /** Adds a tensor whose bytes come from {@code source}; its size must equal shape x dtype width. */
    public void add(String name, DType dtype, long[] shape, TensorSource source) {
        checkOpen();
        if (name == null || name.equals("__metadata__")) throw new IllegalArgumentException("bad tensor name " + name);
        if (names.contains(name)) throw new IllegalArgumentException("tensor '" + name + "' added twice");
        long expected = dtype.byteSize();
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            expected = Math.multiplyExact(expected, d);
        }
        if (expected != source.byteSize()) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " of " + dtype
                    + " needs " + expected + " bytes but the source has " + source.byteSize());
        }
        names.add(name);
        long size = source.byteSize();
        if (!pending.isEmpty() && pendingBytes + size > maxShardBytes) flushShard();
        pending.add(new Entry(name, dtype, shape.clone(), source));
        pendingBytes += size;
    }

    /** Copies stored tensor {@code name} of {@code src} unchanged (bytes copied, never decoded). */
    public void copy(Checkpoint src, String name) {
        copy(src, name, name);
    }

    /** Copies stored tensor {@code name} of {@code src} unchanged under a new name. */
    public void copy(Checkpoint src, String name, String newName) {
        SafetensorsFile f = src.shardOf(name);
        TensorInfo t = f.tensors().get(name);
        add(newName, t.dtype(), t.shape(), TensorSource.of(f, name));
    }

    /**
     * Copies the slices {@code indices} along dimension 0 of stored tensor {@code name} (kept experts of a fused
     * tensor, kept rows of a router weight or bias); the result has shape [indices.length, ...rest].
     */
    public void copyDim0(Checkpoint src, String name, String newName, int[] indices) {
        SafetensorsFile f = src.shardOf(name);
        TensorInfo t = f.tensors().get(name);
        long[] shape = t.shape().clone();
        if (shape.length == 0) throw MoepruneException.inFile(f.path(), "tensor '" + name + "' is a scalar");
        shape[0] = indices.length;
        add(newName, t.dtype(), shape, TensorSource.dim0(f, name, indices));
    }

    /**
     * Copies every stored part of a logical tensor unchanged under a new logical name: an FP8 weight with its
     * {@code _scale_inv}, an MXFP4 pair, or a plain tensor. Part names keep their suffix ({@code Y.weight_scale_inv}
     * for new name {@code Y.weight}; {@code Q_blocks}/{@code Q_scales} for {@code Q}).
     */
    public void copy(Checkpoint src, LogicalTensor t, String newName) {
        for (Tensor part : t.parts()) copy(src, part.name(), newName + suffix(t, part));
    }

    /**
     * Copies slices {@code indices} along dimension 0 of every part of a logical tensor (the kept experts of a
     * fused FP8 or MXFP4 expert tensor); a single per-tensor scale is copied whole.
     */
    public void copyDim0(Checkpoint src, LogicalTensor t, String newName, int[] indices) {
        for (Tensor part : t.parts()) {
            String name = newName + suffix(t, part);
            boolean perTensorScale = t instanceof LogicalTensor.Fp8Blocks f && f.perTensorScale() && part == f.scaleInv();
            if (perTensorScale) copy(src, part.name(), name);
            else copyDim0(src, part.name(), name, indices);
        }
    }

    private static String suffix(LogicalTensor t, Tensor part) {
        if (!part.name().startsWith(t.name())) {
            throw new IllegalArgumentException("part '" + part.name() + "' does not extend '" + t.name() + "'");
        }
        return part.name().substring(t.name().length());
    }

    /** Adds a tensor made in memory; the buffer's remaining bytes are the tensor (little-endian, row-major). */
    public void add(String name, DType dtype, long[] shape, ByteBuffer bytes) {
        add(name, dtype, shape, new TensorSource.Bytes(bytes));
    }

    /** Adds float values encoded as F32, BF16 or F16 (round to nearest even, as torch does). */
    public void addFloats(String name, DType dtype, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(values.length, dtype.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case F32 -> { for (float v : values) b.putFloat(v); }
            case BF16 -> { for (float v : values) b.putShort(toBf16(v)); }
            case F16 -> { for (float v : values) b.putShort(Float.floatToFloat16(v)); }
            default -> throw new IllegalArgumentException("addFloats writes F32, BF16 or F16, not " + dtype);
        }
        add(name, dtype, shape, b.flip());
    }

    /** float -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
    static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /** Writes the last shard, names the shards, writes the index (more than one shard), and returns the layout. */
    public Result finish() {
        checkOpen();
        try {
            if (!pending.isEmpty() || partials.isEmpty()) flushShard();
            awaitAll();
            int n = partials.size();
            List<Path> finals = new ArrayList<>();
            Map<String, String> weightMap = new TreeMap<>();
            for (int i = 0; i < n; i++) {
                String fileName = n == 1 ? Checkpoint.SINGLE : String.format("model-%05d-of-%05d.safetensors", i + 1, n);
                Path target = dir.resolve(fileName);
                created.add(target);
                Files.move(partials.get(i), target, StandardCopyOption.ATOMIC_MOVE);
                finals.add(target);
                for (String t : shardTensors.get(i)) weightMap.put(t, fileName);
            }
            if (n > 1) {
                Map<String, Object> index = new LinkedHashMap<>();
                // Only total_size: transformers' total_parameters leaves out buffers, which a byte copy cannot tell.
                index.put("metadata", Map.of("total_size", totalSize));
                index.put("weight_map", weightMap);
                Path indexFile = dir.resolve(Checkpoint.INDEX);
                created.add(indexFile);
                Files.writeString(indexFile, PRETTY.writeValueAsString(index) + "\n");
            }
            stopBackground();
            closeSources();
            finished = true;
            return new Result(dir, List.copyOf(finals), Map.copyOf(weightMap), totalSize);
        } catch (IOException e) {
            throw fail(dir, e);
        } catch (RuntimeException e) {
            abort();
            throw e;
        }
    }

    /**
     * Lays out and writes the pending tensors as the next shard: on the caller's thread without parallel shards,
     * else on a background thread (waiting first while as many shards are in flight as {@link #parallelShards}
     * allows). The shard's name, tensors and size are recorded here either way.
     */
    private void flushShard() {
        checkBackground();
        if (parallelShards > 1) while (inFlight.size() >= parallelShards) await(inFlight.removeFirst());
        Path file = dir.resolve(String.format(".model-%05d.safetensors.partial", partials.size() + 1));
        // Large copied tensors keep their offset within a page (the kernel copies those faster), every tensor starts
        // at a multiple of its element width (ShardLayout says how).
        List<ShardLayout.Item> items = new ArrayList<>(pending.size());
        for (Entry e : pending) {
            long from = e.source() instanceof TensorSource.FileRanges r && r.offsets().length > 0 ? r.offsets()[0] : -1;
            items.add(new ShardLayout.Item(e.dtype().byteSize(), e.byteSize(), from));
        }
        ShardLayout.Plan plan = ShardLayout.plan(items);
        List<Entry> entries = new ArrayList<>(pending.size());
        for (int i : plan.order()) entries.add(pending.get(i));
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) header.put("__metadata__", metadata);
        long offset = 0;
        for (Entry e : entries) {
            Map<String, Object> h = new LinkedHashMap<>();
            h.put("dtype", e.dtype().name());
            h.put("shape", e.shape());
            h.put("data_offsets", new long[]{offset, offset + e.byteSize()});
            header.put(e.name(), h);
            offset += e.byteSize();
        }
        long dataBytes = offset;
        FileChannel out;
        ByteBuffer head;
        try {
            byte[] json = JSON.writeValueAsBytes(header);
            // Trailing spaces (which the format allows; the reference pads to 8) put the data area's start at the
            // planned residue modulo a page; the residue is a multiple of 8, so the length stays one too.
            int padded = json.length + Math.floorMod(plan.dataStartResidue() - 8 - json.length, ShardLayout.PAGE);
            head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(json);
            while (head.hasRemaining()) head.put((byte) ' ');
            head.flip();
            created.add(file);
            out = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw fail(file, e);
        }
        partials.add(file);
        List<String> tensorNames = new ArrayList<>();
        for (Entry e : entries) {
            tensorNames.add(e.name());
            totalSize += e.byteSize();
        }
        shardTensors.add(tensorNames);
        pending.clear();
        pendingBytes = 0;

        if (parallelShards == 1) {
            try {
                writeShard(out, head, entries, dataBytes);
            } catch (IOException e) {
                throw fail(file, e);
            } catch (RuntimeException e) {
                abort();
                throw e;
            }
            return;
        }
        if (background == null) {
            background = Executors.newFixedThreadPool(parallelShards,
                    Thread.ofPlatform().daemon().name("safetensors-shard-", 1).factory());
        }
        Future<?> task = background.submit(() -> {
            try {
                writeShard(out, head, entries, dataBytes);
            } catch (IOException e) {
                throw new ShardFailure(file, e);
            }
            return null;
        });
        inFlight.addLast(task);
    }

    /** Writes one shard's header and tensors into {@code out} (then closed) and checks its length. */
    private void writeShard(FileChannel out, ByteBuffer head, List<Entry> entries, long dataBytes) throws IOException {
        try (out) {
            long expected = head.remaining() + dataBytes;
            writeFully(out, head);
            Copier copier = new Copier(out);
            for (Entry e : entries) {
                if (e.source() instanceof TensorSource.FileRanges r) copier.add(e.name(), r);
                else {
                    copier.flush();
                    writeTensor(out, e);
                }
            }
            copier.flush();
            if (out.size() != expected) throw new IOException("wrote " + out.size() + " bytes, expected " + expected);
        }
    }

    /** A background shard write that failed with an I/O error, and the shard it was writing. */
    private static final class ShardFailure extends RuntimeException {
        final Path file;

        ShardFailure(Path file, IOException cause) {
            super(cause);
            this.file = file;
        }
    }

    /** Fails now, the way the shard's own thread would have, if a finished background write failed. */
    private void checkBackground() {
        while (!inFlight.isEmpty() && inFlight.peekFirst().isDone()) await(inFlight.removeFirst());
    }

    private void awaitAll() {
        while (!inFlight.isEmpty()) await(inFlight.removeFirst());
    }

    /** Waits for a background shard; its failure removes everything written (after the other shards stop). */
    private void await(Future<?> task) {
        try {
            task.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof ShardFailure f) throw fail(f.file, (IOException) f.getCause());
            abort();
            if (cause instanceof RuntimeException r) throw r;
            if (cause instanceof Error err) throw err;
            throw new IllegalStateException(cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abort();
            throw new MoepruneException(dir + ": interrupted while writing", MoepruneException.FAILED, e);
        }
    }

    private void writeTensor(FileChannel out, Entry e) throws IOException {
        switch (e.source()) {
            case TensorSource.FileRanges r -> {
                Copier c = new Copier(out);
                c.add(e.name(), r);
                c.flush();
            }
            case TensorSource.Bytes b -> writeFully(out, b.bytes().duplicate());
            case TensorSource.Generated g -> {
                long before = out.position();
                g.producer().writeTo(new WritableByteChannel() {   // the producer must not close the shard
                    @Override
                    public int write(ByteBuffer src) throws IOException {
                        return out.write(src);
                    }

                    @Override
                    public boolean isOpen() {
                        return out.isOpen();
                    }

                    @Override
                    public void close() {
                    }
                });
                long wrote = out.position() - before;
                if (wrote != g.byteSize()) {
                    throw new IllegalStateException("producer of tensor '" + e.name() + "' wrote " + wrote
                            + " bytes instead of " + g.byteSize());
                }
            }
        }
    }

    /**
     * Copies file ranges into the shard channel to channel, one transfer for each run of ranges that are adjacent in
     * the same source file (an expert's tensors, consecutive kept experts), so the kernel gets few, large copies.
     */
    private final class Copier {
        private final FileChannel out;
        private Path file;
        private long start, end;
        private String firstTensor;

        Copier(FileChannel out) {
            this.out = out;
        }

        void add(String tensor, TensorSource.FileRanges r) throws IOException {
            for (int i = 0; i < r.offsets().length; i++) {
                long pos = r.offsets()[i], len = r.lengths()[i];
                if (len == 0) continue;
                if (r.file().equals(file) && pos == end) {
                    end += len;
                    continue;
                }
                flush();
                file = r.file();
                start = pos;
                end = pos + len;
                firstTensor = tensor;
            }
        }

        void flush() throws IOException {
            if (file == null) return;
            FileChannel in = source(file);
            if (in.size() < end) {
                throw new IOException("source " + file + " has " + in.size() + " bytes, tensors from '" + firstTensor
                        + "' on need bytes up to " + end);
            }
            long pos = start;
            while (pos < end) {
                long n = in.transferTo(pos, end - pos, out);
                if (n <= 0) throw new IOException("source " + file + " ended early at byte " + pos);
                pos += n;
            }
            file = null;
        }
    }

    private synchronized FileChannel source(Path file) throws IOException {
        FileChannel ch = sources.get(file);
        if (ch == null) {
            ch = FileChannel.open(file, StandardOpenOption.READ);
            sources.put(file, ch);
        }
        return ch;
    }

    private static void writeFully(FileChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) out.write(b);
    }

    private MoepruneException fail(Path file, IOException e) {
        abort();
        return new MoepruneException(file + ": cannot write: " + SafetensorsFile.oneLine(SafetensorsFile.describe(e)),
                MoepruneException.FAILED, e);
    }

    private void checkOpen() {
        if (finished) throw new IllegalStateException("writer already finished");
        if (failed) throw new IllegalStateException("writer failed earlier; its files were removed");
    }

    /** Removes everything this writer created (the directory itself stays; the caller gave it). */
    private void abort() {
        failed = true;
        stopBackground();
        closeSources();
        for (Path p : created) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // best effort: a file we cannot delete is left for the caller's temp-dir clean-up
            }
        }
        pending.clear();
    }

    /** Lets the background shard writes end (their outcome no longer matters) and stops their threads. */
    private void stopBackground() {
        for (Future<?> f : inFlight) {
            try {
                f.get();
            } catch (ExecutionException | CancellationException ignored) {
                // this shard failed too; the first failure is the one reported
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        inFlight.clear();
        if (background != null) background.shutdownNow();
        background = null;
    }

    private synchronized void closeSources() {
        for (FileChannel ch : sources.values()) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // read-only channel: nothing to lose
            }
        }
        sources.clear();
    }

    /** Without a successful {@link #finish()}, deletes every file written so far. */
    @Override
    public void close() {
        if (!finished && !failed) abort();
    }
}
