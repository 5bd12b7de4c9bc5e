package io.moeprune.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 19 item 3: one name per concept across subcommands (docs/cli.md). Each renamed option works under its new
 * name, its old spelling (a hidden alias for one release) sets the same value, and only the new name is in --help.
 */
class OptionNamesTest {

    /** The innermost subcommand object {@code args} parse to; its standard error goes to {@code err}. */
    private static Object parse(StringWriter err, String... args) {
        CommandLine cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        ParseResult r = cl.parseArgs(args);
        while (r.subcommand() != null) r = r.subcommand();
        return r.commandSpec().userObject();
    }

    private static int intField(Object command, String name) {
        try {
            var f = command.getClass().getDeclaredField(name);
            f.setAccessible(true);
            return f.getInt(command);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    private static int parsedValue(String command, String option, String value, String field) {
        String[] args = Stream.concat(Stream.of(command.strip().split(" +")), Stream.of(option, value)).toArray(String[]::new);
        return intField(parse(new StringWriter(), args), field);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            // command with its required options                    | new name         | old name              | field        | default
            "calibrate m --data d.jsonl --out o.stats                 | --demos          | --max-demos           | demos        | 0",
            "calibrate m --data d.jsonl --out o.stats                 | --demo-tokens    | --max-tokens-per-demo | demoTokens   | 2048",
            "patterns build m --task t=d.jsonl --out store            | --demos          | --max-demos           | demos        | 0",
            "patterns build m --task t=d.jsonl --out store            | --demo-tokens    | --max-tokens-per-demo | demoTokens   | 2048",
            "generate m --prompt p                                    | --max-new-tokens | --max-tokens          | maxNewTokens | 128",
            "report m --domains d --out o                             | --decode-tokens  | --decode-steps        | decodeTokens | 32",
    })
    void oldSpellingIsAHiddenAliasOfTheNewName(String command, String newName, String oldName, String field, int dflt) {
        assertEquals(dflt, intField(parse(new StringWriter(), command.strip().split(" +")), field.strip()), "default");
        assertEquals(7, parsedValue(command, newName.strip(), "7", field.strip()), newName);
        assertEquals(7, parsedValue(command, oldName.strip(), "7", field.strip()), oldName);
        String[] name = command.strip().split(" +");
        String help = RuntimeCommandsTest.run(name[0].equals("patterns") ? new String[]{"patterns", "build", "--help"}
                : new String[]{name[0], "--help"}).out();
        assertTrue(help.contains(newName.strip() + "="), help);
        assertFalse(help.contains(oldName.strip() + "="), help);
    }

    @Test
    void calibrateDemosCountAndData() {
        StringWriter err = new StringWriter();
        CalibrateCommand c = (CalibrateCommand) parse(err, "calibrate", "m", "--data", "a.jsonl", "b_dir", "--demos", "8", "--out", "o");
        assertEquals(List.of(Path.of("a.jsonl"), Path.of("b_dir")), c.data);
        assertEquals(8, c.demos);
        assertEquals("", err.toString(), "a count is not deprecated");
    }

    @Test
    void calibrateOldDemosFileStillNamesTheDataWithADeprecationLine() {
        StringWriter err = new StringWriter();
        CalibrateCommand c = (CalibrateCommand) parse(err, "calibrate", "m", "--demos", "math.jsonl", "--max-demos", "3", "--out", "o");
        assertEquals(List.of(Path.of("math.jsonl")), c.data);
        assertEquals(3, c.demos);
        assertEquals(List.of("moeprune: warning: --demos FILE is now --data FILE"), err.toString().lines().toList());
    }

    @Test
    void calibrateWithoutDataIsAOneLineError() {
        RuntimeCommandsTest.Run r = RuntimeCommandsTest.run("calibrate", "m", "--demos", "4", "--out", "o.stats");
        assertEquals(2, r.code(), r.err());
        assertEquals("moeprune: error: missing required option '--data=FILE_OR_DIR' (the demonstrations)", r.err().strip());
    }

    @Test
    void calibrateNegativeDemosIsACountError() {
        RuntimeCommandsTest.Run r = RuntimeCommandsTest.run("calibrate", "m", "--data", "d", "--demos", "-1", "--out", "o");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("moeprune: error: Invalid value for option '--demos': '-1' must be at least 0"), r.err());
    }

    /** A lone '%' in a description makes picocli warn on every --help (it formats descriptions): write "%%". */
    @Test
    void helpRendersWithoutWarnings() {
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(captured, true));
        try {
            Main.commandLine().getSubcommands().values().forEach(CommandLine::getUsageMessage);
        } finally {
            System.setErr(err);
        }
        assertFalse(captured.toString().contains("picocli WARN"), captured.toString());
    }
}
