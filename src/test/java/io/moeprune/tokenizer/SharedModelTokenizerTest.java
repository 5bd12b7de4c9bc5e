package io.moeprune.tokenizer;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The shared model's tokenizer against Hugging Face tokenizers on every development text. */
class SharedModelTokenizerTest {
    private static Tokenizer ours;
    private static List<DevTexts.Doc> docs;

    @BeforeAll
    static void load() {
        assumeTrue(DevTexts.present(), "shared test bed ../shared absent");
        ours = Tokenizers.load(DevTexts.TINY_MODEL);
        docs = DevTexts.all();
    }

    @Test
    void idsEqualHuggingFaceOnAllDevTexts() {
        int tokens = 0;
        try (DjlReference ref = new DjlReference(DevTexts.TINY_MODEL.resolve("tokenizer.json"))) {
            for (DevTexts.Doc d : docs) {
                int[] expected = ref.encode(d.text());
                int[] actual = ours.encode(d.text());
                if (!Arrays.equals(expected, actual)) {
                    assertArrayEquals(expected, actual, d.domain() + " line " + d.line());
                }
                tokens += actual.length;
            }
        }
        System.out.println("moe-tiny-7d: " + docs.size() + " dev documents, " + tokens + " tokens identical to HF tokenizers");
    }

    @Test
    void decodeRoundTripsAllDevTexts() {
        for (DevTexts.Doc d : docs) {
            assertEquals(d.text(), ours.decode(ours.encode(d.text()), false), d.domain() + " line " + d.line());
        }
    }
}
