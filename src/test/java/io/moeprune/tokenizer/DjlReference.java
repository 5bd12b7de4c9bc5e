package io.moeprune.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Hugging Face tokenizers (Rust, through DJL's JNI binding) as the reference. The native library comes from the
 * DJL jar itself (native/lib/linux-x86_64); offline mode forbids DJL any download, and its cache goes under
 * target/.
 */
final class DjlReference implements AutoCloseable {
    static {
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("DJL_CACHE_DIR", Path.of("target/djl-cache").toAbsolutePath().toString());
    }

    private final HuggingFaceTokenizer tokenizer;

    DjlReference(Path tokenizerJson) {
        try {
            tokenizer = HuggingFaceTokenizer.newInstance(tokenizerJson,
                    Map.of("addSpecialTokens", "false", "modelMaxLength", "100000000", "truncation", "false", "padding", "false"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Ids only: DJL's Encoding would also fetch tokens, offsets and masks, which is several times slower. */
    int[] encode(String text) {
        long handle = TokenizersLibrary.LIB.encode(tokenizer.getHandle(), text, false);
        long[] ids;
        try {
            ids = TokenizersLibrary.LIB.getTokenIds(handle);
        } finally {
            TokenizersLibrary.LIB.deleteEncoding(handle);
        }
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    /** Ids of many texts at once: tokenizers encodes a batch on all cores. */
    int[][] encodeAll(java.util.List<String> texts) {
        long[] handles = TokenizersLibrary.LIB.batchEncode(tokenizer.getHandle(), texts.toArray(String[]::new), false);
        int[][] out = new int[handles.length][];
        for (int i = 0; i < handles.length; i++) {
            long[] ids = TokenizersLibrary.LIB.getTokenIds(handles[i]);
            TokenizersLibrary.LIB.deleteEncoding(handles[i]);
            out[i] = new int[ids.length];
            for (int j = 0; j < ids.length; j++) {
                out[i][j] = (int) ids[j];
            }
        }
        return out;
    }

    String decode(int[] ids, boolean skipSpecial) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, skipSpecial);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
