package io.moeprune.tokenizer;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A tokenizer.json BPE pipeline, in the order tokenizers runs it: added tokens that match the raw text are cut
 * out first; the rest is normalized, then added tokens that match normalized text are cut out; what remains is
 * pre-tokenized into words, and each word is encoded by the BPE model. Thread-safe.
 */
final class BpeTokenizer implements Tokenizer {
    private final TextNormalizer normalizer;
    private final PreTokenizer preTokenizer;
    /** Words reach the model as raw text and are rewritten into the byte alphabet there. */
    private final boolean byteLevelWords;
    private final BpeModel model;
    private final TokenDecoder decoder;
    private final AddedTokenMatcher rawAddedTokens;
    private final AddedTokenMatcher normalizedAddedTokens;
    private final Map<String, Integer> addedTokenIds;
    private final String[] tokenOfId;
    private final BitSet specialIds;
    private final List<Integer> eosIds;
    private final ChatTemplate chatTemplate;

    BpeTokenizer(TextNormalizer normalizer, PreTokenizer preTokenizer, BpeModel model, TokenDecoder decoder,
                 List<AddedToken> addedTokens, List<Integer> eosIds, ChatTemplate chatTemplate) {
        this.normalizer = normalizer;
        PreTokenizer deferred = preTokenizer.withoutFinalByteMapping();
        this.preTokenizer = deferred != null ? deferred : preTokenizer;
        this.byteLevelWords = deferred != null;
        this.model = model;
        this.decoder = decoder;
        this.rawAddedTokens = new AddedTokenMatcher(addedTokens.stream().filter(t -> !t.normalized()).toList());
        this.normalizedAddedTokens = new AddedTokenMatcher(addedTokens.stream().filter(AddedToken::normalized).toList());
        this.addedTokenIds = new java.util.HashMap<>();
        int maxId = -1;
        for (Map.Entry<String, Integer> e : model.vocab().entrySet()) {
            maxId = Math.max(maxId, e.getValue());
        }
        for (AddedToken t : addedTokens) {
            maxId = Math.max(maxId, t.id());
            addedTokenIds.put(t.content(), t.id());
        }
        this.tokenOfId = new String[maxId + 1];
        model.vocab().forEach((token, id) -> tokenOfId[id] = token);
        this.specialIds = new BitSet(maxId + 1);
        for (AddedToken t : addedTokens) {
            tokenOfId[t.id()] = t.content();
            if (t.special()) {
                specialIds.set(t.id());
            }
        }
        this.eosIds = List.copyOf(eosIds);
        this.chatTemplate = chatTemplate;
    }

    @Override
    public int[] encode(String text) {
        IntList ids = new IntList(Math.max(16, text.length() / 3));
        List<Piece> words = new ArrayList<>();
        for (AddedTokenMatcher.Segment raw : rawAddedTokens.split(text)) {
            if (raw.tokenId() >= 0) {
                ids.add(raw.tokenId());
                continue;
            }
            String normalized = normalizer.normalize(text.substring(raw.start(), raw.end()));
            for (AddedTokenMatcher.Segment seg : normalizedAddedTokens.split(normalized)) {
                if (seg.tokenId() >= 0) {
                    ids.add(seg.tokenId());
                    continue;
                }
                words.clear();
                preTokenizer.split(new Piece(normalized.substring(seg.start(), seg.end()),
                        raw.start() == 0 && seg.start() == 0), words);
                for (Piece word : words) {
                    model.encodeWord(word.text(), byteLevelWords, ids);
                }
            }
        }
        return ids.toArray();
    }

    @Override
    public String decode(int[] ids, boolean skipSpecial) {
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) {
            if (id < 0 || id >= tokenOfId.length || tokenOfId[id] == null) {
                continue;
            }
            if (skipSpecial && specialIds.get(id)) {
                continue;
            }
            tokens.add(tokenOfId[id]);
        }
        return decoder.decode(tokens);
    }

    @Override
    public int vocabSize() {
        return tokenOfId.length;
    }

    @Override
    public OptionalInt tokenId(String token) {
        Integer id = addedTokenIds.get(token);
        if (id == null) {
            id = model.vocab().get(token);
        }
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The token string of an id (vocabulary or added token), or null. */
    String tokenOf(int id) {
        return id >= 0 && id < tokenOfId.length ? tokenOfId[id] : null;
    }

    @Override
    public List<Integer> eosIds() {
        return eosIds;
    }

    @Override
    public String applyChatTemplate(List<Map<String, String>> messages, boolean addGenerationPrompt) {
        return chatTemplate.render(messages, addGenerationPrompt);
    }

    /** The chat template with extra variables (e.g. tools, enable_thinking) and free-form message maps. */
    String applyChatTemplate(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt, Map<String, Object> extra) {
        return chatTemplate.render(messages, addGenerationPrompt, extra);
    }
}
