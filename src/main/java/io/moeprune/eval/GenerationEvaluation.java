package io.moeprune.eval;

import io.moeprune.MoepruneException;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Sampler;
import io.moeprune.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * Exact-match accuracy of greedy generations: each prompt (optionally rendered as a user message with the chat
 * template) is continued for up to {@code maxNewTokens} tokens, stopping at an end-of-sequence token or at the first
 * stop string (the output is cut there); the final answers of output and reference are compared after
 * {@link AnswerExtraction}.
 */
public final class GenerationEvaluation {
    private GenerationEvaluation() {
    }

    /** Settings of a generation task. */
    public record Options(boolean chat, int maxNewTokens, List<String> stops) {
    }

    /** One question: the generated text, the extracted answers (predicted null when none was found). */
    public record ItemResult(int line, String output, int generatedTokens, String predicted, String reference) {
        public boolean correct() {
            return predicted != null && predicted.equals(reference);
        }
    }

    public record Result(List<ItemResult> items, long generatedTokens, double seconds) {
        public double exactMatch() {
            return items.stream().filter(ItemResult::correct).count() / (double) items.size();
        }
    }

    public static Result run(Model model, ExpertMask mask, Tokenizer tok, List<GenerateItem> items, Options options,
                             Path source, IntConsumer progress) {
        if (options.maxNewTokens() < 1) throw new MoepruneException("--max-new-tokens must be at least 1");
        Generator generator = new Generator(model, mask);
        Sampler greedy = new Sampler(0, 1, 0);
        List<ItemResult> results = new ArrayList<>();
        long generatedTotal = 0;
        long t0 = System.nanoTime();
        for (GenerateItem item : items) {
            String text = options.chat()
                    ? tok.applyChatTemplate(List.of(Map.of("role", "user", "content", item.prompt())), true)
                    : item.prompt();
            int[] prompt = tok.encode(text);
            if (prompt.length == 0) throw new MoepruneException(source + ":" + item.line() + ": the prompt encodes to no tokens");
            List<Integer> generated = new ArrayList<>();
            String[] output = {""};
            Generator.Result r = generator.generate(prompt, options.maxNewTokens(), greedy, tok.eosIds(), token -> {
                generated.add(token);
                output[0] = tok.decode(generated.stream().mapToInt(Integer::intValue).toArray(), true);
                return cut(output[0], options.stops()) == null;
            });
            String out = cut(output[0], options.stops());
            if (out == null) out = output[0];
            generatedTotal += r.tokens().length;
            results.add(new ItemResult(item.line(), out, r.tokens().length, AnswerExtraction.fromOutput(out),
                    AnswerExtraction.fromReference(item.answer())));
            progress.accept(1);
        }
        return new Result(List.copyOf(results), generatedTotal, (System.nanoTime() - t0) / 1e9);
    }

    /** The text before the first stop string, or null when it contains none. */
    static String cut(String text, List<String> stops) {
        int at = -1;
        for (String s : stops) {
            int i = text.indexOf(s);
            if (i >= 0 && (at < 0 || i < at)) at = i;
        }
        return at < 0 ? null : text.substring(0, at);
    }
}
