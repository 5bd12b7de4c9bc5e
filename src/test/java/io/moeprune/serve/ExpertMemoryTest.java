package io.moeprune.serve;

import io.moeprune.bench.RandomMoeModel;
import io.moeprune.cli.Main;
import io.moeprune.eval.MaskLoader;
import io.moeprune.patterns.PatternStore;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Sampler;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Resident experts of serve: sizes, the process's resident set, LRU eviction, and answers equal to the mapped model. */
class ExpertMemoryTest {
    /** 4 layers of 32 experts of [512 -> 512]: 50 MB of BF16 experts a layer, big enough for RSS to show them. */
    static final RandomMoeModel.Shape SHAPE = new RandomMoeModel.Shape(512, 4, 4, 2, 64, 32, 4, 512, 1024);
    static final int KEEP = 8;

    @Test
    void onePatternKeepingKOfEExpertsHoldsKOverEOfTheirBytesAndRunsExactly(@TempDir Path dir) throws Exception {
        RandomMoeModel.write(dir, SHAPE, 7, 16);
        Map<Integer, int[]> kept = new TreeMap<>();
        for (int l = 0; l < SHAPE.layers(); l++) {
            int[] ids = new int[KEEP];
            for (int i = 0; i < KEEP; i++) ids[i] = (l + 3 * i) % SHAPE.experts();
            kept.put(l, ids);
        }
        ExpertMask mask = ExpertMask.of(kept, SHAPE.experts());
        int[] prompt = {5, 17, 300, 42, 999, 7, 64, 128};
        try (Model model = Models.open(dir); Model mapped = Models.open(dir)) {
            long rssBefore = rss();
            ExpertMemory memory = new ExpertMemory(model, model.spec().moeLayers(), Long.MAX_VALUE);
            try {
                long full = memory.fullBytes(), one = memory.bytesOf(mask);
                assertEquals(4L * 32 * 3 * 512 * 512 * 2, full, "the experts' bytes, none lost to alignment here");
                assertTrue(memory.acquire(mask));
                ExpertMemory.Stats s = memory.stats();
                assertEquals(one, s.residentBytes());
                assertEquals(SHAPE.layers() * KEEP, s.residentExperts());
                assertEquals(SHAPE.layers() * KEEP, s.broughtIn());
                assertTrue(s.residentBytes() <= full * KEEP / SHAPE.experts() * 1.10, s.residentBytes() + " of " + full);
                if (rssBefore > 0) {
                    long grew = rss() - rssBefore;
                    System.out.printf("ExpertMemoryTest: resident experts %.1f MB of %.1f MB; RssFile+RssAnon grew %.1f MB%n",
                            s.residentBytes() / 1e6, full / 1e6, grew / 1e6);
                    assertTrue(grew < s.residentBytes() * 1.10 + (24 << 20), "grew " + grew + " for " + s.residentBytes());
                    assertTrue(grew < full / 2, "the copies, not the whole model: grew " + grew + " of " + full);
                }
                // Exact: the copies hold the mapped bytes, so the logits are those of the mapped model with the mask.
                float[] want = mapped.forward(prompt, mapped.newState().withMask(mask), true);
                assertArrayEquals(want, model.forward(prompt, model.newState().withMask(mask), true));
                // An expert outside the resident ones is never read: routing to it is an error.
                var e = assertThrows(IllegalStateException.class, () -> model.forward(prompt, model.newState(), false));
                assertTrue(e.getMessage().contains("is not resident"), e.getMessage());
            } finally {
                memory.close();
            }
            // Closed: the mapped experts are read again.
            assertArrayEquals(mapped.forward(prompt, mapped.newState(), true), model.forward(prompt, model.newState(), true));
        }
    }

    @Test
    void expertsPinnedByARequestInFlightAreNotEvictedUntilItEnds(@TempDir Path dir) throws Exception {
        RandomMoeModel.write(dir, new RandomMoeModel.Shape(64, 2, 2, 1, 32, 8, 2, 32, 256), 3, 16);
        ExpertMask first = ExpertMask.of(Map.of(0, new int[]{0, 1}, 1, new int[]{0, 1}), 8);
        ExpertMask second = ExpertMask.of(Map.of(0, new int[]{2, 3}, 1, new int[]{2, 3}), 8);
        try (Model model = Models.open(dir)) {
            ExpertMemory sizes = new ExpertMemory(model, model.spec().moeLayers(), Long.MAX_VALUE);
            long one = sizes.bytesOf(first);
            sizes.close();
            try (ExpertMemory memory = new ExpertMemory(model, model.spec().moeLayers(), one)) {
                assertTrue(memory.acquire(first));
                assertFalse(memory.acquire(second), "the first request's experts are pinned: no room");
                assertEquals(new ExpertMemory.Stats(one, one, 4, 4, 0, 1, memory.stats().bringInNanos()), memory.stats());
                memory.release(first);
                assertTrue(memory.acquire(second), "unpinned, the first pattern's experts are evicted");
                ExpertMemory.Stats s = memory.stats();
                assertEquals(4, s.evicted());
                assertEquals(8, s.broughtIn());
                assertEquals(one, s.residentBytes());
                assertTrue(memory.acquire(second), "already resident: pinned twice");
                assertEquals(8, memory.stats().broughtIn());
            }
        }
    }

    @Test
    void withRoomForTwoPatternsTheThirdEvictsTheLeastRecentlyUsedAndAnswersStayExact(@TempDir Path dir) throws Exception {
        Path model = OpenAiServerTest.MODEL, data = PatternServingTest.DATA;
        Assumptions.assumeTrue(Files.isDirectory(model) && Files.isDirectory(data), "../shared is absent: skipping");
        Path store = dir.resolve("store");
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(new StringWriter()));
        assertEquals(0, cl.execute("patterns", "build", model.toString(), "--task", "java=" + data.resolve("java.dev.jsonl"),
                "--task", "math=" + data.resolve("math.dev.jsonl"), "--task", "medical=" + data.resolve("medical.dev.jsonl"),
                "--demos", "2", "--demo-tokens", "128", "--keep", "8", "--out", store.toString(), "--quiet"));
        PatternStore ps = PatternStore.open(store);
        List<String> tasks = List.of("java", "math", "medical");
        String prompt = "The function returns";
        Tokenizer tok = Tokenizers.load(model);
        try (Model served = Models.open(model); Model mapped = Models.open(model)) {
            Map<String, String> want = new TreeMap<>();
            Map<String, ExpertMask> masks = new TreeMap<>();
            for (String t : tasks) {
                masks.put(t, MaskLoader.load(ps.taskDir(t).resolve(PatternStore.MASK), model, mapped.spec()));
                want.put(t, tok.decode(new Generator(mapped, masks.get(t)).generate(tok.encode(prompt),
                        PatternServingTest.TOKENS, Sampler.greedy(), tok.eosIds(), x -> true).tokens(), true));
            }
            long two, all;
            try (ExpertRouting sizes = ExpertRouting.patterns(model, served, ps)) {
                two = sizes.memory().bytesOfAll(List.of(masks.get("java"), masks.get("math")));
                all = sizes.memory().bytesOfAll(masks.values());
                assertEquals(all, sizes.expertMemoryBudget(), "default: room for every pattern");
            }
            assertTrue(two < all, "the third pattern needs experts the first two do not keep");
            try (OpenAiServer server = OpenAiServer.start("127.0.0.1", 0, "tiny",
                    new CompletionEngine(served, tok, ExpertRouting.patterns(model, served, ps, two), 2048))) {
                String base = "http://127.0.0.1:" + server.port();
                HttpClient http = HttpClient.newHttpClient();
                for (String t : List.of("java", "math")) assertEquals(want.get(t), PatternServingTest.answer(http, base, "tiny/" + t, prompt).text());
                assertEquals(0, ServerMetrics.read(http, base, "moeprune_experts_evicted_total"));
                long broughtIn = ServerMetrics.read(http, base, "moeprune_experts_brought_in_total");
                assertEquals(want.get("medical"), PatternServingTest.answer(http, base, "tiny/medical", prompt).text());
                long evicted = ServerMetrics.read(http, base, "moeprune_experts_evicted_total");
                assertTrue(evicted > 0, "the third pattern evicted experts");
                assertTrue(ServerMetrics.read(http, base, "moeprune_resident_expert_bytes") <= two);
                // java was the least recently used: it comes back in, and still answers exactly.
                assertEquals(want.get("java"), PatternServingTest.answer(http, base, "tiny/java", prompt).text());
                assertTrue(ServerMetrics.read(http, base, "moeprune_experts_brought_in_total") > broughtIn);
                System.out.printf("ExpertMemoryTest: budget %d of %d bytes, %d experts evicted by the third pattern%n",
                        two, all, evicted);
            }
            // One pattern larger than the budget is refused at the start.
            var e = assertThrows(io.moeprune.MoepruneException.class, () -> ExpertRouting.patterns(model, served, ps, 1000L));
            assertTrue(e.getMessage().startsWith("--expert-memory 0.0 MB is smaller than the experts of pattern"), e.getMessage());
            assertFalse(served.layers().stream().anyMatch(l -> l.feedForward() instanceof io.moeprune.runtime.MoeBlock m
                    && m.experts() instanceof io.moeprune.runtime.ResidentExperts), "a refused budget leaves the model mapped");
        }
    }

    /** RssFile + RssAnon of this process in bytes (-1 off Linux). */
    static long rss() throws java.io.IOException {
        Path p = Path.of("/proc/self/status");
        if (!Files.exists(p)) return -1;
        long sum = 0;
        for (String line : Files.readAllLines(p)) {
            if (line.startsWith("RssFile:") || line.startsWith("RssAnon:")) sum += Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
        return sum;
    }
}
