package io.moeprune.runtime;

import io.moeprune.io.DocumentForms;
import io.moeprune.io.Documents;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The trained shared model against transformers' per-document NLL (reference/moe-tiny-7d.ppl512.json): per domain
 * the two shortest of the first ten documents with at least 32 tokens (java and prose still fill the 512-token
 * window), same protocol (no special tokens, first 512 tokens), NLL within 0.5 %, token count and first ids exact.
 */
class SharedModelPerplexityTest {
    static final Path MODEL = Path.of("../shared/models/moe-tiny-7d");
    static final Path DATA = Path.of("../shared/data/domains");
    static final int DOCS_PER_DOMAIN = 2;

    @Test
    void perDocumentNllMatchesTransformers() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(MODEL) && Files.isDirectory(DATA), "shared test bed absent");
        JsonNode ref = new ObjectMapper().readTree(
                Path.of("src/test/resources/reference/moe-tiny-7d.ppl512.json").toFile());
        int maxTokens = ref.get("max_tokens_per_doc").asInt();
        Tokenizer tok = Tokenizers.load(MODEL);
        try (Model model = Models.open(MODEL)) {
            Perplexity ppl = new Perplexity(model, ExpertMask.NONE);
            var domains = ref.get("domains").properties().iterator();
            int checked = 0;
            while (domains.hasNext()) {
                var domain = domains.next();
                List<String> texts = Documents.read(DATA.resolve(domain.getKey() + ".dev.jsonl"), DocumentForms.of(null, null));
                List<JsonNode> docs = new java.util.ArrayList<>();
                domain.getValue().get("docs").forEach(docs::add);
                List<JsonNode> chosen = docs.subList(0, Math.min(10, docs.size())).stream()
                        .filter(x -> x.get("tokens").asInt() >= 32)
                        .sorted(java.util.Comparator.comparingInt(x -> x.get("tokens").asInt()))
                        .limit(DOCS_PER_DOMAIN).toList();
                for (int d = 0; d < chosen.size(); d++) {
                    JsonNode expected = chosen.get(d);
                    int[] ids = tok.encode(texts.get(expected.get("line").asInt()));
                    ids = Arrays.copyOf(ids, Math.min(ids.length, maxTokens));
                    String what = domain.getKey() + " line " + expected.get("line").asInt();
                    assertEquals(expected.get("tokens").asInt(), ids.length, what + " token count");
                    int[] first = new int[expected.get("first_ids").size()];
                    for (int i = 0; i < first.length; i++) first[i] = expected.get("first_ids").get(i).asInt();
                    assertArrayEquals(first, Arrays.copyOf(ids, first.length), what + " first ids");
                    Perplexity.DocScore s = ppl.score(ids);
                    double refNll = expected.get("nll").asDouble();
                    assertEquals(refNll, s.nll(), 0.005 * refNll, what + " NLL");
                    assertEquals(expected.get("hits").asInt(), s.hits(), Math.max(1, 0.01 * s.predicted()), what + " hits");
                    checked++;
                }
            }
            assertEquals(7 * DOCS_PER_DOMAIN, checked);
        }
    }
}
