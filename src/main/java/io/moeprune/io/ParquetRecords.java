package io.moeprune.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.hardwood.InputFile;
import dev.hardwood.metadata.CompressionCodec;
import dev.hardwood.reader.ParquetFileReader;
import dev.hardwood.reader.RowReader;
import dev.hardwood.row.PqList;
import dev.hardwood.row.StructAccessor;
import dev.hardwood.schema.ColumnProjection;
import dev.hardwood.schema.SchemaNode;
import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The rows of a Parquet file (read with hardwood) as JSON objects, so that the record forms of {@link Documents} apply
 * to Parquet as to JSONL: strings stay strings, lists become arrays and structs objects (a {@code messages} column of
 * list&lt;struct&lt;role, content&gt;&gt; reads as the JSONL form does). Only the columns asked for are decoded.
 */
final class ParquetRecords {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    private static final Set<CompressionCodec> READABLE =
            EnumSet.of(CompressionCodec.UNCOMPRESSED, CompressionCodec.SNAPPY, CompressionCodec.GZIP);
    /**
     * hardwood logs at INFO on first use ("SIMD support: enabled"), which would land in the command's stderr; held
     * here so that the level set on it stays (java.util.logging keeps loggers only weakly).
     */
    private static final Logger HARDWOOD_LOG = Logger.getLogger("dev.hardwood");

    static {
        HARDWOOD_LOG.setLevel(Level.WARNING);
    }

    private ParquetRecords() {
    }

    /**
     * The rows of {@code file} (the first {@code limit} when limit > 0: a few demonstrations from a large data set
     * decode only those rows), holding only those of {@code columns} that the file has; an error naming the file and
     * its columns when it has none of them.
     */
    static List<DocumentRecord> read(Path file, List<String> columns, String wanted, long limit) {
        try (ParquetFileReader reader = ParquetFileReader.open(InputFile.of(file))) {
            checkCodecs(file, reader);
            List<String> present = reader.getFileSchema().getRootNode().children().stream().map(SchemaNode::name).toList();
            String[] projected = columns.stream().filter(present::contains).toArray(String[]::new);
            if (projected.length == 0) {
                throw MoepruneException.inFile(file, "no column " + wanted + " (its columns: " + String.join(", ", present) + ")");
            }
            List<DocumentRecord> rows = new ArrayList<>();
            var rowReader = reader.buildRowReader().projection(ColumnProjection.columns(projected));
            if (limit > 0) rowReader = rowReader.head(limit);
            try (RowReader row = rowReader.build()) {
                while (row.hasNext()) {
                    row.next();
                    String where = file + ": row " + (rows.size() + 1);
                    rows.add(new DocumentRecord(where, object(row, where)));
                }
            }
            return rows;
        } catch (MoepruneException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            // hardwood reports a damaged file, an unknown codec or a schema it cannot read with an exception; the
            // user needs the file and the reason, not a stack trace.
            throw MoepruneException.inFile(file, "cannot read as Parquet: " + firstLine(e));
        }
    }

    /**
     * The jar carries the Snappy codec (and gzip comes with Java), not zstd, LZ4 or Brotli; hardwood's own message for
     * those asks a developer to add a dependency, so the user gets this one instead.
     */
    private static void checkCodecs(Path file, ParquetFileReader reader) {
        reader.getFileMetaData().rowGroups().stream().flatMap(g -> g.columns().stream())
                .map(c -> c.metaData().codec()).filter(c -> !READABLE.contains(c)).findFirst().ifPresent(c -> {
                    throw MoepruneException.inFile(file, "compressed with " + c + ", which moeprune does not read "
                            + "(it reads uncompressed, SNAPPY and GZIP Parquet files)");
                });
    }

    /**
     * One row or struct as a JSON object. Strings are decoded here from their raw bytes, strictly, because hardwood
     * replaces bytes that are not UTF-8 without a word; such a value is refused naming the file, row and column (as
     * io.moeprune.io.Jsonl refuses them in JSONL).
     */
    private static ObjectNode object(StructAccessor struct, String where) {
        ObjectNode o = JSON.objectNode();
        for (int i = 0; i < struct.getFieldCount(); i++) {
            String name = struct.getFieldName(i);
            Object v = struct.isNull(i) ? null : struct.getValue(i);
            o.set(name, json(v, v instanceof String ? struct.getRawValue(i) : v, where, name));
        }
        return o;
    }

    private static JsonNode json(Object v, Object raw, String where, String column) {
        return switch (v) {
            case null -> JSON.nullNode();
            case String s -> utf8((byte[]) raw, where, column);
            case byte[] b -> utf8(b, where, column);
            case Boolean b -> JSON.booleanNode(b);
            case Integer i -> JSON.numberNode(i);
            case Long l -> JSON.numberNode(l);
            case Float f -> JSON.numberNode(f);
            case Double d -> JSON.numberNode(d);
            case StructAccessor s -> object(s, where);
            case PqList list -> {
                ArrayNode a = JSON.arrayNode();
                List<Object> values = list.values(), raws = list.rawValues();
                for (int k = 0; k < values.size(); k++) a.add(json(values.get(k), raws.get(k), where, column));
                yield a;
            }
            default -> JSON.textNode(v.toString());
        };
    }

    private static JsonNode utf8(byte[] b, String where, String column) {
        try {
            return JSON.textNode(StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString());
        } catch (CharacterCodingException e) {
            throw new MoepruneException(where + ": column \"" + column + "\" is not UTF-8 text");
        }
    }

    private static String firstLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.lines().findFirst().orElse(m);
    }
}
