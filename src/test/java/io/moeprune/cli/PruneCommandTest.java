package io.moeprune.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class PruneCommandTest {
    @TempDir
    Path tmp;

    private record Run(int code, String out, String err) {
    }

    private Run run(String... args) {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.io.PrintStream old = System.out;
        System.setOut(new java.io.PrintStream(out, true));
        try {
            int code = cl.execute(args);
            return new Run(code, out.toString(), err.toString());
        } finally {
            System.setOut(old);
        }
    }

    private Path mask(String layers) throws Exception {
        Path f = tmp.resolve("mask.json");
        Files.writeString(f, """
                {"format": "moeprune-expert-mask", "version": 1,
                 "model": {"fingerprint": "", "family": "olmoe", "num_experts": 8, "top_k": 2, "moe_layers": [0, 1, 2]},
                 "method": "test", "budget": "", "domains": [], "layers": %s}
                """.formatted(layers));
        return f;
    }

    @Test
    void prunesWithJsonOutput() throws Exception {
        Path mask = mask("{\"0\": [1,2,5], \"1\": [0,3,7], \"2\": [4,5,6]}");
        Run r = run("prune", "src/test/resources/conformance/olmoe", "--mask", mask.toString(), "--out",
                tmp.resolve("out").toString(), "--json", "--verify");
        assertEquals(0, r.code(), r.err());
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.out());
        assertEquals(3, json.get("experts_kept").asInt());
        assertEquals(3, json.get("config_changes").get("num_experts").asInt());
        // same math on fewer experts; kernels may tile the smaller router differently (issue bound: 1e-6)
        assertTrue(json.get("verify").get("max_rel_diff").asDouble() <= 1e-6, r.out());
        assertTrue(Files.isRegularFile(tmp.resolve("out/model.safetensors")));
    }

    @Test
    void unevenMaskIsAOneLineErrorWithExitCode2() throws Exception {
        Path mask = mask("{\"0\": [1,2,5], \"1\": [0,3], \"2\": [4,5,6]}");
        Run r = run("prune", "src/test/resources/conformance/olmoe", "--mask", mask.toString(), "--out",
                tmp.resolve("out").toString());
        assertEquals(2, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("moeprune: error: " + mask + ": layers keep different numbers of experts"), r.err());
        assertFalse(Files.exists(tmp.resolve("out")));
    }
}
