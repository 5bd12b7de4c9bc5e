package io.moeprune.io;

import io.moeprune.MoepruneException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The one document source of every command that reads documents (calibrate, perplexity, eval --text, report,
 * quickstart): paths to .jsonl, .jsonl.gz or .parquet files or directories of them (see {@link DocumentFiles}), each
 * record made text by {@link DocumentForms}. Errors are one line naming the file and the line or row.
 */
public final class Documents {
    private Documents() {
    }

    /** Every document of {@code paths}, in order; an error naming the paths when there is none. */
    public static List<String> read(List<Path> paths, DocumentForms forms) {
        return read(paths, forms, 0);
    }

    /** The first {@code max} documents of {@code paths} (all when max <= 0); records past them are not rendered. */
    public static List<String> read(List<Path> paths, DocumentForms forms, int max) {
        List<String> texts = new ArrayList<>();
        for (Path file : DocumentFiles.expand(paths)) {
            for (DocumentRecord r : records(file, forms, max > 0 ? max - texts.size() : 0)) {
                if (max > 0 && texts.size() >= max) return texts;
                texts.add(forms.text(r));
            }
        }
        if (texts.isEmpty()) {
            throw new MoepruneException(paths.stream().map(Path::toString).reduce((a, b) -> a + ", " + b).orElse("")
                    + ": holds no documents (one record per line or row)");
        }
        return texts;
    }

    public static List<String> read(Path path, DocumentForms forms) {
        return read(List.of(path), forms, 0);
    }

    /** The records of one file; of a Parquet file only the first {@code limit} rows when limit > 0. */
    private static List<DocumentRecord> records(Path file, DocumentForms forms, int limit) {
        if (DocumentFiles.isParquet(file)) return ParquetRecords.read(file, forms.keys(), forms.wanted(), limit);
        return Jsonl.read(file).stream()
                .map(l -> new DocumentRecord(l.file() + ":" + l.number(), l.node())).toList();
    }
}
