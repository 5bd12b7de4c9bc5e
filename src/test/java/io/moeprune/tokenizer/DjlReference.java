package io.moeprune.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

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
                    Map.of("addSpecialTokens", "false", "modelMaxLength", "100000000", "truncation", "false"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int[] encode(String text) {
        Encoding e = tokenizer.encode(text, false, false);
        long[] ids = e.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
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
