package io.moeprune.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.io.DocumentForms;
import io.moeprune.io.Documents;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Perplexity;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Per-domain loss of the runtime against transformers' reference (conformance/reference_perplexity.py output,
 * e.g. src/test/resources/reference/moe-tiny-7d.ppl512.json) on the same documents and token cut.
 * Usage: bench/run perplexityCheck MODEL_DIR DATA_DIR REFERENCE.json [maxDocsPerDomain=all]
 */
public final class PerplexityCheckBench {
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]), data = Path.of(args[1]);
        JsonNode ref = new ObjectMapper().readTree(Path.of(args[2]).toFile());
        int maxDocs = args.length > 3 ? Integer.parseInt(args[3]) : Integer.MAX_VALUE;
        int cut = ref.path("max_tokens_per_doc").asInt(512);
        Tokenizer tok = Tokenizers.load(model);
        System.out.printf(Locale.ROOT, "%-9s %6s %9s %10s %10s %9s %9s %8s %10s%n", "domain", "docs", "tokens", "loss",
                "ref loss", "rel diff", "acc", "ref acc", "ids equal");
        double worst = 0;
        long t0 = System.nanoTime(), total = 0;
        try (Model m = Models.open(model)) {
            Perplexity p = new Perplexity(m, ExpertMask.NONE);
            for (var it = ref.path("domains").properties().iterator(); it.hasNext(); ) {
                var e = it.next();
                List<String> texts = Documents.read(data.resolve(e.getKey() + ".dev.jsonl"), DocumentForms.of(null, null));
                JsonNode docs = e.getValue().path("docs");
                int n = Math.min(maxDocs, docs.size());
                double nll = 0, refNll = 0;
                long predicted = 0, hits = 0, refHits = 0;
                int idsEqual = 0;
                for (int d = 0; d < n; d++) {
                    JsonNode r = docs.get(d);
                    int[] ids = tok.encode(texts.get(d));
                    ids = Arrays.copyOf(ids, Math.min(ids.length, cut));
                    int[] first = new int[r.path("first_ids").size()];
                    for (int i = 0; i < first.length; i++) first[i] = r.path("first_ids").get(i).asInt();
                    if (ids.length == r.path("tokens").asInt()
                            && Arrays.equals(Arrays.copyOf(ids, Math.min(ids.length, first.length)), first)) idsEqual++;
                    Perplexity.DocScore s = p.score(ids);
                    nll += s.nll();
                    predicted += s.predicted();
                    hits += s.hits();
                    refNll += r.path("nll").asDouble();
                    refHits += r.path("hits").asLong();
                }
                total += predicted;
                double loss = nll / predicted, refLoss = refNll / predicted, rel = (loss - refLoss) / refLoss;
                worst = Math.max(worst, Math.abs(rel));
                System.out.printf(Locale.ROOT, "%-9s %6d %9d %10.5f %10.5f %+8.4f%% %9.4f %8.4f %6d/%d%n", e.getKey(), n,
                        predicted, loss, refLoss, 100 * rel, (double) hits / predicted, (double) refHits / predicted, idsEqual, n);
            }
        }
        System.out.printf(Locale.ROOT, "largest |relative loss difference|: %.4f%% (goal < 0.5%%); %d tokens in %.0f s%n",
                100 * worst, total, (System.nanoTime() - t0) / 1e9);
    }
}
