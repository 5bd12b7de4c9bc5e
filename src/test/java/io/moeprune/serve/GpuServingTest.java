package io.moeprune.serve;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.CompletionCreateParams;
import io.moeprune.cli.Main;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.gpu.runtime.GpuGeneration;
import io.moeprune.patterns.PatternStore;
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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * serve with the model on a device ({@link GpuBackend}), on {@link HostOps} (the Java reference device; CI has no
 * GPU), on the shared trained model (its tokenizer; skipped without it): concurrent requests through the OpenAI Java
 * SDK, joining and leaving a batch of decoder slots, get the greedy text each gets alone there, and the CPU runtime's.
 */
class GpuServingTest {
    private static final Path MODEL = OpenAiServerTest.MODEL;
    private static final long BOUND = 1L << 30;

    @Test
    void concurrentRequestsOnTheDeviceEqualEachServedAloneAndTheCpusGreedyText() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(MODEL), "../shared/models/moe-tiny-7d is absent: skipping");
        try (Model model = Models.open(MODEL); HostOps ops = new HostOps(BOUND)) {
            Tokenizer tok = Tokenizers.load(MODEL);
            DeviceServing.Run run = DeviceServing.run(model, MODEL, tok, ops, BOUND, GpuServingTest::openAiSdk);
            int tokens = 0;
            for (int i = 0; i < DeviceServing.REQUESTS; i++) {
                String prompt = run.prompts().get(i);
                int max = run.maxTokens().get(i);
                Generator.Result cpu = new Generator(model).generate(tok.encode(prompt), max, Sampler.greedy(),
                        tok.eosIds(), t -> true);
                tokens += cpu.tokens().length;
                assertEquals(tok.decode(cpu.tokens(), true), run.alone().get(i), "alone on the device: " + prompt);
                assertEquals(run.alone().get(i), run.concurrent().get(i), "concurrent on the device: " + prompt);
            }
            System.out.printf("GpuServingTest: %d concurrent requests on HostOps, %d decode steps for %d sequence "
                    + "steps (mean batch %.1f)%n", DeviceServing.REQUESTS, run.steps(), run.sequenceSteps(),
                    (double) run.sequenceSteps() / run.steps());
            // The first token of each comes from its prefill, every other one from a decode step.
            assertEquals(tokens - DeviceServing.REQUESTS, run.sequenceSteps());
            assertTrue(run.steps() < run.sequenceSteps() / 2, "decode steps are batched: " + run.steps() + " steps for "
                    + run.sequenceSteps());
            assertEquals(0, ops.allocatedBytes(), "the server stopped: every cache and the weights freed");
        }
    }

    /** Completions through the official OpenAI Java SDK, as the other serve tests. */
    private static DeviceServing.Client openAiSdk(String base) {
        // A bound on each request: a slot never freed fails the test instead of hanging it.
        OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(base + "/v1").apiKey("unused")
                .timeout(java.time.Duration.ofSeconds(60)).build();
        return (prompt, maxTokens) -> client.completions().create(CompletionCreateParams.builder().model("tiny")
                .prompt(prompt).maxTokens(maxTokens).temperature(0.0).build()).choices().getFirst().text();
    }

    /**
     * Two patterns on the device, in room for the weights and ONE decoder: requests of both at once get the answers
     * each gets alone, the second pattern's waiting until the first's requests end and its idle decoder is closed.
     */
    @Test
    void patternsOnTheDeviceWaitForRoomAndAnswerAsAlone(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(MODEL) && Files.isDirectory(PatternServingTest.DATA),
                "../shared is absent: skipping");
        Path store = dir.resolve("store");
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(new StringWriter()));
        assertEquals(0, cl.execute("patterns", "build", MODEL.toString(), "--task", "java="
                + PatternServingTest.DATA.resolve("java.dev.jsonl"), "--task", "math="
                + PatternServingTest.DATA.resolve("math.dev.jsonl"), "--demos", "2", "--demo-tokens", "128",
                "--keep", "8", "--out", store.toString(), "--quiet"));
        List<String> models = List.of("tiny/java", "tiny/math", "tiny/java", "tiny/math", "tiny/math", "tiny/java");
        List<String> prompts = DeviceServing.prompts().subList(0, models.size());
        try (Model model = Models.open(MODEL)) {
            Tokenizer tok = Tokenizers.load(MODEL);
            PatternStore ps = PatternStore.open(store);
            long one, two;
            try (HostOps ops = new HostOps(BOUND); GpuGeneration gen = new GpuGeneration(ops, BOUND);
                 OpenAiServer server = start(model, tok, ps, gen)) {
                one = ops.allocatedBytes();  // the weights and the first pattern's decoder
                PatternServingTest.answer(HttpClient.newHttpClient(), "http://127.0.0.1:" + server.port(), "tiny/math", "x");
                two = ops.allocatedBytes();
            }
            long bound = one + (two - one) / 2;
            try (HostOps ops = new HostOps(bound); GpuGeneration gen = new GpuGeneration(ops, bound);
                 OpenAiServer server = start(model, tok, ps, gen)) {
                String base = "http://127.0.0.1:" + server.port();
                HttpClient http = HttpClient.newHttpClient();
                List<PatternServingTest.Answer> alone = new ArrayList<>();
                for (int i = 0; i < models.size(); i++) alone.add(PatternServingTest.answer(http, base, models.get(i), prompts.get(i)));
                ExecutorService pool = Executors.newFixedThreadPool(models.size());
                try {
                    List<Future<PatternServingTest.Answer>> concurrent = new ArrayList<>();
                    for (int i = 0; i < models.size(); i++) {
                        String m = models.get(i), p = prompts.get(i);
                        concurrent.add(pool.submit(() -> PatternServingTest.answer(http, base, m, p)));
                    }
                    for (int i = 0; i < models.size(); i++) {
                        assertEquals(alone.get(i), concurrent.get(i).get(), models.get(i) + ": " + prompts.get(i));
                        assertEquals(models.get(i).substring(5), alone.get(i).pattern());
                    }
                } finally {
                    pool.shutdown();
                }
            }
        }
    }

    /**
     * Host-side behaviour is the device's too: a chat stream equals its non-streamed answer, and a client that leaves
     * mid-stream frees its slot (the server's only one here) for the next request.
     */
    @Test
    void aStreamEqualsItsAnswerAndALeavingClientFreesItsSlot() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(MODEL), "../shared/models/moe-tiny-7d is absent: skipping");
        try (Model model = Models.open(MODEL); HostOps ops = new HostOps(BOUND); GpuGeneration gen = new GpuGeneration(ops, BOUND);
             OpenAiServer server = OpenAiServer.start("127.0.0.1", 0, "tiny", CompletionEngine.onDevice(model,
                     Tokenizers.load(MODEL), ExpertRouting.onDevice(MODEL, model, null, null), 256, 1, gen))) {
            String base = "http://127.0.0.1:" + server.port();
            OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(base + "/v1").apiKey("unused").build();
            ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("tiny")
                    .addUserMessage("Write a Java method that adds two ints.").maxCompletionTokens(12).temperature(0.0).build();
            String content = client.chat().completions().create(params).choices().getFirst().message().content().orElseThrow();
            StringBuilder streamed = new StringBuilder();
            try (StreamResponse<ChatCompletionChunk> st = client.chat().completions().createStreaming(params)) {
                st.stream().forEach(chunk -> chunk.choices().forEach(ch -> ch.delta().content().ifPresent(streamed::append)));
            }
            assertEquals(content, streamed.toString());

            HttpClient http = HttpClient.newHttpClient();
            long before = ServerMetrics.read(http, base, "moeprune_decode_sequence_steps_total");
            AbandonedStream.startAndLeave(http, base, "public class A {", 200);
            String next = openAiSdk(base).complete("Question: what is 2 plus 7?\nAnswer:", 4);
            assertFalse(next.isEmpty(), "the one slot was freed for the next request");
            long abandoned = ServerMetrics.read(http, base, "moeprune_decode_sequence_steps_total") - before - 3;
            assertTrue(abandoned < 150, abandoned + " tokens decoded for a client that left after the first");
        }
    }

    private static OpenAiServer start(Model model, Tokenizer tok, PatternStore ps, GpuGeneration gen) {
        return OpenAiServer.start("127.0.0.1", 0, "tiny", CompletionEngine.onDevice(model, tok,
                ExpertRouting.onDevice(MODEL, model, null, ps), DeviceServing.CONTEXT, DeviceServing.MAX_BATCH, gen));
    }
}
