package io.moeprune.tokenizer;

import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Text to token ids and back, as the model's {@code tokenizer.json} defines it. Implementations:
 * byte-level BPE (Qwen, DeepSeek-V3, gpt-oss, OLMoE) and SentencePiece-style BPE with byte fallback
 * (Mixtral, Llama-2). Load one with {@link Tokenizers#load}.
 */
public interface Tokenizer {
    /** Token ids of {@code text}, without any special tokens added (added tokens in the text are matched). */
    int[] encode(String text);

    /** The text of a sequence of ids; special tokens are kept unless {@code skipSpecial}. */
    String decode(int[] ids, boolean skipSpecial);

    int vocabSize();

    /** The id of a token string (including added tokens), if it exists. */
    OptionalInt tokenId(String token);

    /** Ids of tokens that end generation (from generation_config.json / tokenizer_config.json). */
    List<Integer> eosIds();

    /** Renders a conversation with the model's chat template; messages are {role, content} maps. */
    String applyChatTemplate(List<Map<String, String>> messages, boolean addGenerationPrompt);
}
