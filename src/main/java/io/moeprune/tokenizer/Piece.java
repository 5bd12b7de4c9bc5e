package io.moeprune.tokenizer;

/**
 * A stretch of text on its way to the model: {@code atStart} says it begins at offset 0 of the original input
 * (Metaspace's "first" prepend scheme needs to know).
 */
record Piece(String text, boolean atStart) {
}
