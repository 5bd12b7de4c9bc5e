package io.moeprune.serve;

import io.moeprune.cli.Main;
import io.moeprune.gpu.GpuTestSupport;
import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.runtime.Sampler;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * serve with the model on CUDA (skipped without a GPU or the shared model), as GpuServingTest on HostOps: concurrent
 * requests joining and leaving the decoder slots against each served alone there (plain HTTP: the GPU machine's
 * class path has no OpenAI SDK). The device's batched products may
 * sum in another order than a single row's (cuBLAS picks kernels by shape), so a greedy text may part at a near tie:
 * counted, and at most one request in five may. And the start's refusal of caches that do not fit the device.
 */
class ServeCudaTest {
    /** The shared trained model where this checkout or the GPU machine has it (GpuTestSupport's places). */
    private static final Path MODEL = GpuTestSupport.sharedModel("moe-tiny-7d");
    private static final long BOUND = 8L << 30;

    @Test
    void concurrentRequestsOnCudaEqualEachServedAlone() throws Exception {
        Assumptions.assumeTrue(MODEL != null, "moe-tiny-7d is not in this checkout: skipping");
        try (CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(BOUND)); Model model = Models.open(MODEL)) {
            Tokenizer tok = Tokenizers.load(MODEL);
            DeviceServing.Run run = DeviceServing.run(model, MODEL, tok, ops, BOUND, DeviceServing::plainHttp);
            int sameAsAlone = 0, sameAsCpu = 0;
            for (int i = 0; i < DeviceServing.REQUESTS; i++) {
                String prompt = run.prompts().get(i);
                Generator.Result cpu = new Generator(model).generate(tok.encode(prompt), run.maxTokens().get(i),
                        Sampler.greedy(), tok.eosIds(), t -> true);
                if (run.alone().get(i).equals(run.concurrent().get(i))) sameAsAlone++;
                else System.out.println("ServeCudaTest: parted from alone: " + prompt + " -> " + run.alone().get(i)
                        + " | " + run.concurrent().get(i));
                if (tok.decode(cpu.tokens(), true).equals(run.alone().get(i))) sameAsCpu++;
            }
            System.out.printf("ServeCudaTest: %d requests on CUDA, concurrent = alone for %d, alone = CPU for %d; "
                    + "%d decode steps for %d sequence steps (mean batch %.1f)%n", DeviceServing.REQUESTS, sameAsAlone,
                    sameAsCpu, run.steps(), run.sequenceSteps(), (double) run.sequenceSteps() / run.steps());
            assertTrue(sameAsAlone >= DeviceServing.REQUESTS * 4 / 5, sameAsAlone + " of " + DeviceServing.REQUESTS);
            assertTrue(run.steps() < run.sequenceSteps() / 2, "decode steps are batched: " + run.steps() + " steps for "
                    + run.sequenceSteps());
            assertEquals(0, ops.allocatedBytes(), "the server stopped: every cache and the weights freed");
        }
    }

    /** serve --device cuda whose --max-batch caches of the model's context cannot fit: one line, exit 2, no server. */
    @Test
    void slotsBeyondTheDeviceAreRefusedBeforeThePortIsBound() {
        Assumptions.assumeTrue(MODEL != null, "moe-tiny-7d is not in this checkout: skipping");
        GpuTestSupport.openOrSkip(1L << 20).close();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute("serve", MODEL.toString(), "--device", "cuda", "--max-batch", "100000", "--port", "0");
        String line = err.toString().strip();
        assertEquals(2, code, line);
        assertEquals(1, line.lines().count(), line);
        assertTrue(line.startsWith("moeprune: error: --gpu-memory ") && line.contains("100000 generations of 2048 positions")
                && line.endsWith("give fewer or a larger --gpu-memory"), line);
        assertEquals("cpu", PrefillPasses.device(), "the device session was closed");
    }
}
