package io.moeprune.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE "model" of tokenizer.json: turns one word into ids. A word starts as one symbol per character (or
 * per byte for unknown characters when byte_fallback is on); then merges are applied lowest rank first, ties
 * broken by position, exactly as Hugging Face tokenizers' priority-queue loop does (including its acceptance
 * of a queued merge whose pair still produces the same token). Results are cached per word.
 */
final class BpeModel {
    private static final int CACHE_LIMIT = 200_000;

    private final Map<String, Integer> vocab;
    private final MergeTable merges;
    /** Merged id of each rank (to check a queued merge is still valid, as tokenizers does). */
    private final int[] mergedIdOfRank;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    private final String continuingSubwordPrefix;
    private final String endOfWordSuffix;
    /** Id of each byte written as &lt;0xXX&gt;, or -1 (byte fallback). */
    private final int[] byteFallbackIds = new int[256];
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    BpeModel(Map<String, Integer> vocab, MergeTable merges, int[] mergedIdOfRank, int unkId, boolean fuseUnk,
             boolean byteFallback, boolean ignoreMerges, String continuingSubwordPrefix, String endOfWordSuffix) {
        this.vocab = vocab;
        this.merges = merges;
        this.mergedIdOfRank = mergedIdOfRank;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
        this.continuingSubwordPrefix = continuingSubwordPrefix == null ? "" : continuingSubwordPrefix;
        this.endOfWordSuffix = endOfWordSuffix == null ? "" : endOfWordSuffix;
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.format("<0x%02X>", b));
            byteFallbackIds[b] = id == null ? -1 : id;
        }
    }

    Map<String, Integer> vocab() {
        return vocab;
    }

    /**
     * Appends the ids of {@code word} to {@code out}; with {@code byteLevel} the word is raw text that is first
     * rewritten into the byte alphabet (the cache is keyed by the raw word, so hits skip the rewrite).
     */
    void encodeWord(String word, boolean byteLevel, IntList out) {
        if (word.isEmpty()) {
            return;
        }
        int[] ids = cache.get(word);
        if (ids == null) {
            ids = tokenize(byteLevel ? ByteLevelAlphabet.encode(word) : word);
            if (cache.size() >= CACHE_LIMIT) {
                cache.clear();
            }
            cache.put(word, ids);
        }
        out.addAll(ids);
    }

    private int[] tokenize(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        IntList symbols = initialSymbols(word);
        return mergeAll(symbols.toArray());
    }

    private IntList initialSymbols(String word) {
        IntList symbols = new IntList(word.length());
        boolean previousUnk = false;
        int length = word.length();
        for (int i = 0; i < length; ) {
            int cp = word.codePointAt(i);
            int next = i + Character.charCount(cp);
            String s = word.substring(i, next);
            if (i > 0 && !continuingSubwordPrefix.isEmpty()) {
                s = continuingSubwordPrefix + s;
            }
            if (next == length && !endOfWordSuffix.isEmpty()) {
                s = s + endOfWordSuffix;
            }
            i = next;
            Integer id = vocab.get(s);
            if (id != null) {
                symbols.add(id);
                previousUnk = false;
                continue;
            }
            if (byteFallback && addBytes(new String(Character.toChars(cp)), symbols)) {
                previousUnk = false;
                continue;
            }
            if (unkId >= 0) {
                if (!(fuseUnk && previousUnk)) {
                    symbols.add(unkId);
                }
                previousUnk = true;
            }
            // Without an unknown token the character is dropped, as tokenizers does.
        }
        return symbols;
    }

    private boolean addBytes(String character, IntList symbols) {
        byte[] bytes = character.getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) {
            if (byteFallbackIds[b & 0xFF] < 0) {
                return false;
            }
        }
        for (byte b : bytes) {
            symbols.add(byteFallbackIds[b & 0xFF]);
        }
        return true;
    }

    private int[] mergeAll(int[] sym) {
        int n = sym.length;
        if (n < 2) {
            return sym;
        }
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] removed = new boolean[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        LongMinHeap queue = new LongMinHeap(n * 2);
        for (int i = 0; i + 1 < n; i++) {
            long m = merges.get(sym[i], sym[i + 1]);
            if (m >= 0) {
                queue.push((m & 0xFFFFFFFF00000000L) | i);
            }
        }
        int alive = n;
        while (!queue.isEmpty()) {
            long top = queue.pop();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            if (removed[pos] || next[pos] < 0) {
                continue;
            }
            int right = next[pos];
            long m = merges.get(sym[pos], sym[right]);
            int mergedId = mergedIdOfRank[rank];
            if (m < 0 || (int) m != mergedId) {
                continue;
            }
            sym[pos] = mergedId;
            removed[right] = true;
            alive--;
            next[pos] = next[right];
            if (next[pos] >= 0) {
                prev[next[pos]] = pos;
            }
            if (prev[pos] >= 0) {
                long p = merges.get(sym[prev[pos]], mergedId);
                if (p >= 0) {
                    queue.push((p & 0xFFFFFFFF00000000L) | prev[pos]);
                }
            }
            if (next[pos] >= 0) {
                long q = merges.get(mergedId, sym[next[pos]]);
                if (q >= 0) {
                    queue.push((q & 0xFFFFFFFF00000000L) | pos);
                }
            }
        }
        int[] out = new int[alive];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            out[k++] = sym[i];
        }
        return out;
    }

    /** A binary min-heap of longs (rank in the high half, position in the low half). */
    private static final class LongMinHeap {
        private long[] heap;
        private int size;

        LongMinHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long v) {
            if (size == heap.length) {
                heap = java.util.Arrays.copyOf(heap, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= v) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = v;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            int half = size >>> 1;
            while (i < half) {
                int child = 2 * i + 1;
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (heap[child] >= last) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
