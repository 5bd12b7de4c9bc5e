package io.moeprune.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.FileSystemException;
import java.util.concurrent.Callable;

import static org.junit.jupiter.api.Assertions.*;

/** An I/O error that reaches the command line is one line with its file and reason, not a class name and a trace. */
class MainErrorsTest {
    @CommandLine.Command(name = "fail")
    static final class Failing implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            throw new java.io.UncheckedIOException(new FileSystemException("/out/x.svg", null, "No space left on device"));
        }
    }

    @Test
    void fileSystemErrorsAreOneLine() {
        CommandLine cl = Main.commandLine("fail");
        cl.addSubcommand(new Failing());
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        assertEquals(1, cl.execute("fail"));
        assertEquals("moeprune: error: /out/x.svg: No space left on device" + System.lineSeparator(), err.toString());
    }
}
