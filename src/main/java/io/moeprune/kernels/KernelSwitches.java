package io.moeprune.kernels;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The kernels' choices for one-input products (a decode step) and for the pool's splitting. Each starts from its
 * system property and can be switched at run time, so that variants are compared in one process, alternated run by
 * run ({@code bench/run decodeAb}): between processes the GPU machine's speed moves by up to 2×, which hides a
 * difference of 10 %. Each setter returns the previous setting; the kernels read the switches plainly, once per
 * call.
 */
public final class KernelSwitches {
    /**
     * From this many columns on, one-input BF16 products read each weight pair as one int against the input laid out
     * by {@code VectorKernels.pairLayout} ({@code moeprune.pairMinCols}; default: never). On the GPU machine's Xeon it
     * is 1.9× the four-row kernel's speed from L2 on 2048-column rows, but a decode step, whose weights come from
     * memory, was level or slower with it (sessions 6 and 7, BENCHMARKS.md). On 256-column rows it is slower even
     * from L2.
     */
    static final AtomicInteger PAIR_MIN_COLS =
            new AtomicInteger(Integer.getInteger("moeprune.pairMinCols", Integer.MAX_VALUE));
    /**
     * One-input row dots take rows spread through the block (each row's run sequential through memory) rather than
     * neighbouring rows ({@code moeprune.spreadRows}, default true): [2048 × 256] BF16 rows 60 → 94 % of the read
     * probe on two AVX2 cores (2026-11-24).
     */
    static final AtomicBoolean SPREAD_ROWS = new AtomicBoolean(!"false".equals(System.getProperty("moeprune.spreadRows")));
    /**
     * Spread BF16 rows are read eight at a time rather than four ({@code moeprune.eightRows}, default true): 5-12 %
     * more decode tokens/s at 16 threads on the GPU machine (2026-11-24). Blocks of 8-15 rows, and the rows past the
     * last eight, take the four-row kernel.
     */
    static final AtomicBoolean EIGHT_ROWS = new AtomicBoolean(!"false".equals(System.getProperty("moeprune.eightRows")));
    /**
     * A small one-input product (below {@link Parallel#MIN_WORK_PER_THREAD} per thread) is cut in 8-row blocks counted
     * at 4× their bytes ({@code moeprune.smallSplit}, default true): the 1.9 B model's router (64 rows, 256 KB) runs on
     * 8 threads, not 2, and its phase of a 16-thread decode step took 14-27 % less time (2026-11-24).
     */
    static final AtomicBoolean SMALL_SPLIT = new AtomicBoolean(!"false".equals(System.getProperty("moeprune.smallSplit")));
    /**
     * Chunks per taking-part thread of a parallel call ({@code moeprune.chunksPerThread}, default 8): a thread delayed
     * by the OS or by memory does not hold everyone up, and the threads run out of work closer together (8 against
     * 4: a 16-thread decode step 3-4 % faster; 16 no better; 2026-11-24).
     */
    static final AtomicInteger CHUNKS_PER_THREAD =
            new AtomicInteger(Math.max(1, Integer.getInteger("moeprune.chunksPerThread", 8)));
    /**
     * Decode attention's grouped items (long contexts) weight the values of the group's query heads four at a time,
     * each value vector loaded once for four heads ({@code moeprune.groupedHeads}, default true; 2026-11-24: one
     * attention call from cache at 272 positions 27 % faster on one AVX2 core, a 2-core decode level; not yet measured
     * on the GPU machine).
     */
    static final AtomicBoolean GROUPED_HEADS = new AtomicBoolean(!"false".equals(System.getProperty("moeprune.groupedHeads")));
    /**
     * The eight-row kernel adds its rows' lanes in one tree across the eight vectors (two-source permutes) rather
     * than each row's stored lanes in scalar adds ({@code moeprune.shuffledSums}, default true); the same floats.
     * GPU machine, in one process: decode 1.19× at 16 threads after a 256-token prompt, 1.12× at 8 (2026-11-24).
     */
    static final AtomicBoolean SHUFFLED_SUMS =
            new AtomicBoolean(!"false".equals(System.getProperty("moeprune.shuffledSums")));
    /**
     * Rows per parallel block of a one-input product that is not small ({@code moeprune.decodeBlockRows}, default 16,
     * the fewest the eight-row kernel takes): with 32, the 1.9 B model's q/k/v product was 96 blocks and its o_proj 64
     * for 16 threads, each block 128 KB (~15 µs of a thread), and the threads waited on the last ones. 2026-11-24, GPU
     * machine, two calls with CPU steal, in one process: the sum of the decode phases −3.3 % on average over six
     * configurations (−9 to +3 %), tokens/s 1.02× (0.98-1.08×); 64 rows was 0.92-1.06×.
     */
    static final AtomicInteger DECODE_BLOCK_ROWS =
            new AtomicInteger(Math.max(16, Integer.getInteger("moeprune.decodeBlockRows", 16)));
    /**
     * A decode attention item reads its block of values once in order (one float a cache line) before weighting them
     * ({@code moeprune.valuesInOrder}, default true): the weighted sums read each 512-byte value row a few vectors at a
     * time in several passes, a stride the prefetchers follow badly from memory. GPU machine, in one process
     * (2026-11-24): attention phase −21 / −6 / −2 %, tokens/s 1.08 / 1.07 / 1.03× at 16 threads after a 256-token
     * prompt / 8 threads / 16 threads decode-heavy.
     */
    static final AtomicBoolean VALUES_IN_ORDER =
            new AtomicBoolean(!"false".equals(System.getProperty("moeprune.valuesInOrder")));
    /**
     * Each thread of a parallel call owns an even share of its chunks and claims its own first, in order, taking
     * others' from the back when it has none left ({@code moeprune.ownedChunks}, default true); off, all threads claim
     * from one counter. What a thread read ahead for a call ({@link Parallel#readAheadFor}) is then what it computes
     * first.
     */
    static final AtomicBoolean OWNED_CHUNKS = new AtomicBoolean(!"false".equals(System.getProperty("moeprune.ownedChunks")));
    /**
     * Owned chunks are every n-th chunk of a call (n threads) rather than a run of them ({@code moeprune.interleavedChunks},
     * default false): the threads then read neighbouring blocks at any time, as with one counter.
     */
    static final AtomicBoolean INTERLEAVED_CHUNKS =
            new AtomicBoolean(Boolean.getBoolean("moeprune.interleavedChunks"));
    /**
     * Threads waiting in a decode step read their share of the next product's weights (or attention's cache) ahead
     * ({@link Parallel#readAheadFor}; {@code moeprune.readAhead}, default true). GPU machine, in one process against
     * the code of 2026-11-24 06:51 UTC (measured 2026-11-24 08:44-10:10 UTC): 16 threads after a 256-token prompt 1.09-1.17× tokens/s, the sum of the decode
     * phases −6 to −13 %; decode-heavy 1.02-1.09×; 8 threads 1.00-1.04×.
     */
    static final AtomicBoolean READ_AHEAD = new AtomicBoolean(!"false".equals(System.getProperty("moeprune.readAhead")));
    /**
     * The calling thread too reads its share of the next product ahead, while the workers finish their chunks
     * ({@code moeprune.callerReadsAhead}, default false): in three calls with CPU steal on the GPU machine (2026-11-24)
     * the sum of the decode phases was 0-8 % lower without it at 16 threads after a 256-token prompt, and −3.5 to +2 %
     * decode-heavy.
     */
    static final AtomicBoolean CALLER_READS_AHEAD = new AtomicBoolean(Boolean.getBoolean("moeprune.callerReadsAhead"));
    /**
     * Long-context decode attention aims at one item (key/value head, block of positions) per this many threads
     * ({@code moeprune.attentionThreadsDivisor}, default 2): half the threads attend, in blocks twice as long, and the
     * other half read o_proj ahead meanwhile. GPU machine, in one process (2026-11-24, clean call): 16 threads after a
     * 256-token prompt 1.07× tokens/s, the sum of the decode phases −8.7 % (attention +8 %, o_proj −25 %); 8
     * threads 1.02×, −2.0 %.
     */
    static final AtomicInteger ATTENTION_THREADS_DIVISOR =
            new AtomicInteger(Math.max(1, Integer.getInteger("moeprune.attentionThreadsDivisor", 2)));
    /**
     * Batched products of FP8 (E4M3, block-scaled) and MXFP4 weights take the BF16 tiles: rows are dequantised a
     * panel at a time into a per-thread BF16 buffer ({@link QuantPanels}) where the batch is packed for the tiles
     * ({@code moeprune.quantPanels}, default true; {@code false}: FP8 batches in F32 on the vector register tiles and
     * MXFP4 rows decoded to F32, as before issue 20 item 4). Machines without the tiles are not affected.
     */
    static final AtomicBoolean QUANT_PANELS = new AtomicBoolean(!"false".equals(System.getProperty("moeprune.quantPanels")));
    /**
     * Bytes of BF16 weights per dequantised panel ({@code moeprune.panelBytes}, default 2 MB, about a core's L2 on
     * the GPU machine's Xeon): rows per panel are this over the row's bytes, a multiple of 16, from 16 to 256.
     */
    static final AtomicInteger PANEL_BYTES =
            new AtomicInteger(Math.max(1 << 12, Integer.getInteger("moeprune.panelBytes", 1 << 21)));
    /**
     * Batches of at least this many query rows attend in blocks ({@code BlockedAttention}: per head and block of queries,
     * blocks of keys from cache with an online softmax) rather than four queries at a time against every key
     * ({@code moeprune.blockedAttentionMinRows}, default 64; a large value keeps the four-query path). The four-query
     * path read a head's whole keys and values once per four queries: a DeepSeek-V3 prefill of 2048 tokens streamed
     * ~80 GB a layer and sequence from L3 and memory (issue 20).
     */
    static final AtomicInteger BLOCKED_ATTENTION_MIN_ROWS =
            new AtomicInteger(Math.max(1, Integer.getInteger("moeprune.blockedAttentionMinRows", 64)));
    /** Least work per thread before a call is split ({@code moeprune.minWorkPerThread}); see {@link Parallel}. */
    static final AtomicLong MIN_WORK_PER_THREAD = new AtomicLong(Parallel.MIN_WORK_PER_THREAD);

    private KernelSwitches() {
    }

    public static int pairKernelFrom(int cols) {
        return PAIR_MIN_COLS.getAndSet(cols);
    }

    public static boolean spreadRows(boolean on) {
        return SPREAD_ROWS.getAndSet(on);
    }

    public static boolean eightRows(boolean on) {
        return EIGHT_ROWS.getAndSet(on);
    }

    public static boolean smallSplit(boolean on) {
        return SMALL_SPLIT.getAndSet(on);
    }

    public static int chunksPerThread(int n) {
        return CHUNKS_PER_THREAD.getAndSet(Math.max(1, n));
    }

    public static boolean groupedHeads(boolean on) {
        return GROUPED_HEADS.getAndSet(on);
    }

    /** Whether decode attention takes a group's heads four at a time (read by the runtime's attention). */
    public static boolean groupedHeads() {
        return GROUPED_HEADS.getPlain();
    }

    public static boolean shuffledSums(boolean on) {
        return SHUFFLED_SUMS.getAndSet(on);
    }

    public static int decodeBlockRows(int rows) {
        return DECODE_BLOCK_ROWS.getAndSet(Math.max(16, rows));
    }

    public static boolean valuesInOrder(boolean on) {
        return VALUES_IN_ORDER.getAndSet(on);
    }

    /** Whether decode attention reads each item's values in order first (read by the runtime's attention). */
    public static boolean valuesInOrder() {
        return VALUES_IN_ORDER.getPlain();
    }

    public static boolean ownedChunks(boolean on) {
        return OWNED_CHUNKS.getAndSet(on);
    }

    public static boolean interleavedChunks(boolean on) {
        return INTERLEAVED_CHUNKS.getAndSet(on);
    }

    public static boolean callerReadsAhead(boolean on) {
        return CALLER_READS_AHEAD.getAndSet(on);
    }

    public static int attentionThreadsDivisor(int d) {
        return ATTENTION_THREADS_DIVISOR.getAndSet(Math.max(1, d));
    }

    public static int attentionThreadsDivisor() {
        return ATTENTION_THREADS_DIVISOR.getPlain();
    }

    public static boolean readAhead(boolean on) {
        return READ_AHEAD.getAndSet(on);
    }

    public static boolean quantPanels(boolean on) {
        return QUANT_PANELS.getAndSet(on);
    }

    /** Whether batched products of FP8 and MXFP4 weights go through BF16 panels (where the tiles are). */
    public static boolean quantPanels() {
        return QUANT_PANELS.getPlain();
    }

    public static int panelBytes(int bytes) {
        return PANEL_BYTES.getAndSet(Math.max(1 << 12, bytes));
    }

    public static int blockedAttentionMinRows(int rows) {
        return BLOCKED_ATTENTION_MIN_ROWS.getAndSet(Math.max(1, rows));
    }

    /** From how many query rows on a batch attends in blocks (read by the runtime's attention). */
    public static int blockedAttentionMinRows() {
        return BLOCKED_ATTENTION_MIN_ROWS.getPlain();
    }

    public static long minWorkPerThread(long bytes) {
        return MIN_WORK_PER_THREAD.getAndSet(Math.max(1, bytes));
    }
}
