package io.moeprune.report;

import io.moeprune.io.ParquetTestFiles;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** A report domain read from Parquet with --text-field: the first documents are demonstrations, the next held out. */
class DomainSplitTest {
    @Test
    void parquetDomainWithTextField(@TempDir Path dir) throws Exception {
        Tokenizer tok = Tokenizers.load(Path.of("models/moe-tiny-7d"));
        Map<String, List<String>> cols = new LinkedHashMap<>();
        cols.put("text", List.of("x", "x", "x", "x"));
        cols.put("code", List.of("int a = 1;", "int b = 2;", "return a + b;", "class C { }"));
        Path file = ParquetTestFiles.write(dir.resolve("java.parquet"), cols, null);
        DomainSplit split = DomainSplit.of("java", file, "code", tok, 2, 1024, 8);
        assertEquals(List.of("int a = 1;", "int b = 2;"), split.demoTexts());
        assertEquals(2, split.evalIds().size());
        assertArrayEquals(tok.encode("return a + b;"), split.evalIds().getFirst());
    }
}
