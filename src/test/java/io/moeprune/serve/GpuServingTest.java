package io.moeprune.serve;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.completions.CompletionCreateParams;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Sampler;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
        OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(base + "/v1").apiKey("unused").build();
        return (prompt, maxTokens) -> client.completions().create(CompletionCreateParams.builder().model("tiny")
                .prompt(prompt).maxTokens(maxTokens).temperature(0.0).build()).choices().getFirst().text();
    }
}
