package io.moeprune.cli;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.CudaLibrariesProbe;
import io.moeprune.runtime.PrefillPasses;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --device} and {@code --gpu-memory} on the layer-major commands, generate and serve: one-line errors with exit code
 * 2 for cuda where CUDA cannot run (CI), for a name that is no device and for --gpu-memory without cuda; the process
 * is back on the CPU after each command.
 */
class DeviceOptionTest {
    private static final String MODEL = "src/test/resources/conformance/qwen3_moe";
    private static String data;

    @org.junit.jupiter.api.BeforeAll
    static void writeData(@org.junit.jupiter.api.io.TempDir Path dir) throws java.io.IOException {
        data = java.nio.file.Files.writeString(dir.resolve("docs.jsonl"),
                "{\"text\": \"one small document of a few words\"}\n{\"text\": \"and another one\"}\n").toString();
    }

    private static String[] run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new String[]{String.valueOf(code), err.toString().strip(), out.toString()};
    }

    private static boolean cudaHere() {
        try {
            CudaLibrariesProbe.devices();
            return true;
        } catch (MoepruneException e) {
            return false;
        }
    }

    @Test
    void cudaWithoutCudaIsTheProbesOneLineOnEveryDeviceCommand() {
        if (cudaHere()) return;   // the GPU machine: its own tests run these commands on the device
        Path out = Path.of("target/device-option-test.json");
        for (String[] args : new String[][]{
                {"calibrate", MODEL, "--data", data, "--out", out.toString(), "--device", "cuda"},
                {"perplexity", MODEL, "--data", data, "--device", "cuda:1", "--gpu-memory", "1GB"},
                {"eval", MODEL, "--text", data, "--device", "cuda"},
                {"generate", MODEL, "--prompt", "hi", "--device", "cuda"},
                // serve: the line comes before the port is bound (else execute would not return).
                {"serve", MODEL, "--device", "cuda", "--port", "0"}}) {
            String[] r = run(args);
            assertEquals("2", r[0], String.join(" ", args) + ": " + r[1]);
            assertTrue(r[1].startsWith("moeprune: error: --device cuda: "), r[1]);
            assertEquals(1, r[1].lines().count(), r[1]);
            assertEquals("cpu", PrefillPasses.device());
        }
    }

    @Test
    void badDeviceOptionsAreOneLineErrors() {
        String[] r = run("perplexity", MODEL, "--data", data, "--device", "tpu");
        assertEquals("2", r[0]);
        assertEquals("moeprune: error: --device: 'tpu' is not a device: use cpu, cuda or cuda:N", r[1]);
        r = run("perplexity", MODEL, "--data", data, "--gpu-memory", "1GB");
        assertEquals("2", r[0]);
        assertEquals("moeprune: error: --gpu-memory needs --device cuda[:N]", r[1]);
        // Host-resident experts have no meaning on the device: refused, not ignored (before any device is opened).
        r = run("serve", MODEL, "--mask", "mask.json", "--expert-memory", "1GB", "--device", "cuda", "--port", "0");
        assertEquals("2", r[0]);
        assertEquals("moeprune: error: --expert-memory keeps experts resident in host memory and does not apply with "
                + "--device cuda (the device holds every weight); leave it out", r[1]);
        assertEquals("cpu", PrefillPasses.device());
    }

    @Test
    void theCpuIsTheDefaultAndNamedInResults() {
        Path shared = Path.of("../shared/models/moe-tiny-7d");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isDirectory(shared), "shared test bed absent");
        String[] r = run("perplexity", shared.toString(), "--data", data, "--json", "--quiet");
        assertEquals("0", r[0], r[1]);
        assertTrue(r[2].contains("\"device\" : \"cpu\""), r[2]);
        assertEquals("cpu", PrefillPasses.device());
    }
}
