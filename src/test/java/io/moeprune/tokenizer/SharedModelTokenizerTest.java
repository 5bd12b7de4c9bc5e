package io.moeprune.tokenizer;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
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

    // The assumption is checked per test: one in @BeforeAll makes surefire report "Tests run: 0" instead of skipped
    // tests. The loading stays in @BeforeAll (once per class) and is skipped there when the test bed is absent.
    @BeforeAll
    static void load() {
        if (!DevTexts.present()) return;
        ours = Tokenizers.load(DevTexts.TINY_MODEL);
        docs = DevTexts.all();
    }

    @BeforeEach
    void needsSharedTestBed() {
        assumeTrue(DevTexts.present(), "shared test bed ../shared absent");
    }

    @Test
    void idsEqualHuggingFaceOnAllDevTexts() {
        long t0 = System.nanoTime();
        int[][] expected;
        try (DjlReference ref = new DjlReference(DevTexts.TINY_MODEL.resolve("tokenizer.json"))) {
            expected = ref.encodeAll(docs.stream().map(DevTexts.Doc::text).toList());
        }
        long t1 = System.nanoTime();
        int tokens = 0;
        for (int i = 0; i < docs.size(); i++) {
            DevTexts.Doc d = docs.get(i);
            int[] actual = ours.encode(d.text());
            if (!Arrays.equals(expected[i], actual)) {
                assertArrayEquals(expected[i], actual, d.domain() + " line " + d.line());
            }
            tokens += actual.length;
        }
        long t2 = System.nanoTime();
        System.out.printf("moe-tiny-7d: %d dev documents, %d tokens identical to HF tokenizers (ours %.1f s, reference %.1f s)%n",
                docs.size(), tokens, (t2 - t1) / 1e9, (t1 - t0) / 1e9);
    }

    /** The ids transformers used for the perplexity reference (first 16 of each document) agree too. */
    @Test
    void firstIdsEqualPerplexityReference() throws java.io.IOException {
        java.nio.file.Path file = java.nio.file.Path.of("src/test/resources/reference/moe-tiny-7d.ppl512.json");
        assumeTrue(java.nio.file.Files.isRegularFile(file), "perplexity reference absent");
        com.fasterxml.jackson.databind.JsonNode root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(file.toFile());
        java.util.Map<String, DevTexts.Doc> byKey = new java.util.HashMap<>();
        for (DevTexts.Doc d : docs) {
            byKey.put(d.domain() + ":" + d.line(), d);
        }
        int checked = 0;
        for (var domain : root.path("domains").properties()) {
            for (com.fasterxml.jackson.databind.JsonNode doc : domain.getValue().path("docs")) {
                DevTexts.Doc d = byKey.get(domain.getKey() + ":" + doc.path("line").asInt());
                if (d == null) {
                    continue;
                }
                int[] first = new int[doc.path("first_ids").size()];
                for (int i = 0; i < first.length; i++) {
                    first[i] = doc.path("first_ids").get(i).asInt();
                }
                int[] ids = ours.encode(d.text());
                assertArrayEquals(first, Arrays.copyOf(ids, first.length), domain.getKey() + " line " + d.line());
                assertEquals(Math.min(ids.length, 512), doc.path("tokens").asInt(), domain.getKey() + " line " + d.line() + " token count");
                checked++;
            }
        }
        assertEquals(docs.size(), checked, "every dev document has a reference entry");
    }

    @Test
    void decodeRoundTripsAllDevTexts() {
        for (DevTexts.Doc d : docs) {
            assertEquals(d.text(), ours.decode(ours.encode(d.text()), false), d.domain() + " line " + d.line());
        }
    }
}
