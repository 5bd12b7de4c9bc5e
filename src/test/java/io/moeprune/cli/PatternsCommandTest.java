package io.moeprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.MaskFiles;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** patterns build / match on the shared trained model (skipped when ../shared is absent). */
class PatternsCommandTest {
    static final Path MODEL = CalibrateCommandTest.MODEL;
    static final Path DATA = Path.of("../shared/data/domains");

    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @BeforeAll
    static void needsSharedData() {
        Assumptions.assumeTrue(Files.isDirectory(MODEL) && Files.isDirectory(DATA),
                "../shared/models/moe-tiny-7d or ../shared/data/domains is absent: skipping");
    }

    static String task(String domain) {
        return domain + "=" + DATA.resolve(domain + ".dev.jsonl");
    }

    static Result build(Path store, String... more) {
        List<String> args = new java.util.ArrayList<>(List.of("patterns", "build", MODEL.toString(), "--max-demos", "2",
                "--max-tokens-per-demo", "256", "--keep", "8", "--out", store.toString(), "--quiet"));
        args.addAll(List.of(more));
        return run(args.toArray(String[]::new));
    }

    @Test
    void buildsAddsAndMatches(@TempDir Path dir) throws Exception {
        Path store = dir.resolve("store");
        Result b = build(store, "--task", task("math"), "--task", task("java"));
        assertEquals(0, b.code(), b.err());
        ExpertMask math = MaskFiles.read(store.resolve("tasks/math/mask.json"));
        assertEquals(8, math.moeLayers().size());
        for (int[] kept : math.kept()) assertEquals(8, kept.length);
        assertEquals("easyep", math.method());

        // Adding a task rebuilds nothing else; an existing task needs --force.
        byte[] javaSig = Files.readAllBytes(store.resolve("tasks/java/signature.json"));
        assertEquals(0, build(store, "--task", task("prose")).code());
        assertArrayEquals(javaSig, Files.readAllBytes(store.resolve("tasks/java/signature.json")));
        Result again = build(store, "--task", task("java"));
        assertEquals(2, again.code());
        assertEquals(1, again.err().strip().lines().count(), again.err());
        assertTrue(again.err().contains("tasks/java: already exists; pass --force"), again.err());

        Path prompts = dir.resolve("prompts.jsonl");
        StringBuilder sb = new StringBuilder();
        ObjectMapper om = new ObjectMapper();
        for (String d : List.of("math", "java", "prose")) {
            List<String> lines = Files.readAllLines(DATA.resolve(d + ".dev.jsonl"));
            for (String line : lines.subList(10, 12)) {
                sb.append(om.createObjectNode().put("text", om.readTree(line).get("text").asText()).put("label", d)).append('\n');
            }
        }
        Files.writeString(prompts, sb);
        Result m = run("patterns", "match", store.toString(), "--prompts", prompts.toString(), "--max-tokens-per-prompt",
                "128", "--json");
        assertEquals(0, m.code(), m.err());
        JsonNode j = om.readTree(m.out());
        assertEquals("hidden", j.get("signature").asText());
        assertEquals(6, j.get("labelled").asInt());
        assertEquals(6, j.get("correct").asInt(), m.out());
        assertEquals(3, j.get("prompts").get(0).get("ranking").size());
        assertEquals(128, j.get("prompts").get(0).get("tokens").asInt());

        Result text = run("patterns", "match", store.toString(), "--prompt", "public static void main(String[] args) {");
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().startsWith("prompt 1:  java "), text.out());
    }

    @Test
    void badInputIsOneLineWithExitCode2(@TempDir Path dir) throws Exception {
        Path store = dir.resolve("s");
        List<Result> bad = List.of(
                build(store, "--task", "math"),
                build(store, "--task", "../x=" + DATA.resolve("math.dev.jsonl")),
                build(store, "--task", "math=" + dir.resolve("missing.jsonl")),
                build(store, "--task", task("math"), "--signature", "nope"),
                run("patterns", "build", MODEL.toString(), "--task", task("math"), "--keep", "2", "--out", store.toString()),
                run("patterns", "match", dir.resolve("none").toString(), "--prompt", "x"),
                run("patterns", "match", store.toString(), "--prompt", "x", "--prompts", "p.jsonl"));
        for (Result r : bad) {
            assertEquals(2, r.code(), r.err());
            assertEquals(1, r.err().strip().lines().filter(l -> !l.startsWith("Try ")).count(), r.err());
            assertFalse(r.err().contains("Exception"), r.err());
        }
        assertTrue(bad.get(2).err().contains("missing.jsonl: no such file or directory"), bad.get(2).err());
        assertTrue(bad.get(4).err().contains("cannot keep 2 experts per layer"), bad.get(4).err());
        assertFalse(Files.exists(store), "nothing was written");
    }
}
