package io.moeprune.tokenizer;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The tokenizer.json of real model families (fetched by scripts/test-setup.sh into .cache/tokenizers) against
 * Hugging Face tokenizers: tricky strings and a sample of the development texts.
 */
class FamilyTokenizersTest {
    static final Path CACHE = Path.of(".cache/tokenizers");
    /** Every n-th development document per family keeps the suite fast. */
    private static final int DEV_STRIDE = 9;

    static Path familyDir(String family) {
        Path dir = CACHE.resolve(family);
        if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            System.out.println("skipping " + family + ": " + dir + "/tokenizer.json absent (run scripts/test-setup.sh)");
            assumeTrue(false, family + " tokenizer absent; run scripts/test-setup.sh");
        }
        return dir;
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen3", "deepseek_v3", "gptoss", "llama2"})
    void matchesHuggingFace(String family) {
        Path dir = familyDir(family);
        Tokenizer ours = Tokenizers.load(dir);
        try (DjlReference ref = new DjlReference(dir.resolve("tokenizer.json"))) {
            for (String text : TrickyTexts.ALL) {
                ReferenceAssertions.assertSameAsReference(ours, ref, text, family);
            }
            if (!DevTexts.present()) {
                System.out.println(family + ": tricky strings only (../shared absent)");
                return;
            }
            List<DevTexts.Doc> docs = DevTexts.all();
            int compared = 0;
            int tokens = 0;
            for (int i = 0; i < docs.size(); i += DEV_STRIDE) {
                DevTexts.Doc d = docs.get(i);
                int[] ids = ReferenceAssertions.assertSameIds(ours, ref, d.text(), family + " " + d.domain() + " line " + d.line());
                assertEquals(d.text(), ours.decode(ids, false), family + " round trip " + d.domain() + " line " + d.line());
                compared++;
                tokens += ids.length;
            }
            System.out.println(family + ": " + TrickyTexts.ALL.size() + " tricky strings and " + compared
                    + " dev documents (" + tokens + " tokens) identical to HF tokenizers");
        }
    }
}
