package io.moeprune.tokenizer;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Compares our tokenizer with the Hugging Face one on a text: ids, and decoding with and without specials. */
final class ReferenceAssertions {
    private ReferenceAssertions() {
    }

    static int[] assertSameIds(Tokenizer ours, DjlReference ref, String text, String label) {
        int[] expected = ref.encode(text);
        int[] actual = ours.encode(text);
        if (!Arrays.equals(expected, actual)) {
            assertArrayEquals(expected, actual, label + ": " + abbreviate(text));
        }
        return actual;
    }

    static void assertSameAsReference(Tokenizer ours, DjlReference ref, String text, String label) {
        int[] ids = assertSameIds(ours, ref, text, label);
        assertEquals(ref.decode(ids, false), ours.decode(ids, false), label + " decode: " + abbreviate(text));
        assertEquals(ref.decode(ids, true), ours.decode(ids, true), label + " decode skipping specials: " + abbreviate(text));
    }

    static String abbreviate(String text) {
        String t = text.length() > 80 ? text.substring(0, 80) + "..." : text;
        return t.replace("\n", "\\n");
    }
}
