package io.moeprune.tokenizer;

/** An entry of "added_tokens" in tokenizer.json. */
record AddedToken(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip, boolean normalized,
                  boolean special) {
}
