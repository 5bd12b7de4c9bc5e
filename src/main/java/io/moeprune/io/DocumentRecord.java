package io.moeprune.io;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.MoepruneException;

/**
 * One record of a document file, whatever its format: a JSONL line or a Parquet row, as a JSON object, with where it
 * came from ({@code file:line} or {@code file: row N}) for one-line errors.
 */
public record DocumentRecord(String where, JsonNode node) {
    public MoepruneException error(String problem) {
        return new MoepruneException(where + ": " + problem);
    }
}
