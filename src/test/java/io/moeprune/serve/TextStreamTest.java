package io.moeprune.serve;

import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tokens to text pieces on the request's thread: stop strings and multi-byte characters (shared model's tokenizer). */
class TextStreamTest {
    @Test
    void piecesAddUpToTheTextBeforeTheStopString() {
        Assumptions.assumeTrue(Files.isDirectory(OpenAiServerTest.MODEL), "../shared/models/moe-tiny-7d is absent: skipping");
        Tokenizer tok = Tokenizers.load(OpenAiServerTest.MODEL);
        String text = "Größe: 42 µm. END of the answer";
        TextStream stream = new TextStream(tok, List.of("END", "never"));
        StringBuilder sent = new StringBuilder();
        int used = 0;
        for (int id : tok.encode(text)) {
            String piece = stream.add(id);
            assertFalse(piece.contains("\uFFFD"), "a piece ends inside a character: " + piece);
            sent.append(piece);
            used++;
            // Never sent: the start of a stop string that the next tokens could complete.
            assertFalse(sent.toString().contains("E"), sent.toString());
            if (stream.stopped()) break;
        }
        assertTrue(stream.stopped());
        sent.append(stream.rest());
        assertEquals("Größe: 42 µm. ", sent.toString());
        assertEquals("Größe: 42 µm. ", stream.text());
        assertEquals(used, stream.tokens());

        // Without a stop string every token's text is handed out, the last piece by rest().
        TextStream plain = new TextStream(tok, List.of());
        StringBuilder all = new StringBuilder();
        for (int id : tok.encode(text)) all.append(plain.add(id));
        all.append(plain.rest());
        assertFalse(plain.stopped());
        assertEquals(text, all.toString());
    }
}
