package io.moeprune.tokenizer;

import java.util.List;

/** Strings that exercise the corners of pre-tokenizer patterns, normalizers and byte handling. */
final class TrickyTexts {
    private TrickyTexts() {
    }

    static final List<String> ALL = List.of(
            "Hello, world! It's a test. I'M HERE, you'll see; we'd've done it.",
            "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'Ve 'LL 'D don't DON'T",
            "\u017f 's '\u017f KELVIN \u212a k", // long s and Kelvin sign fold to s and k under Unicode (?i)
            "  leading spaces and trailing   ",
            " ",
            "a",
            "\n",
            "\n\n\nmultiple\n\n newlines\r\n windows\ttabs\t\t end\n",
            "tab\t\tand\u000bvertical\u000cformfeed\u0085nextline\u2028linesep\u2029para",
            "whitespace runs:     \u00a0\u00a0 nbsp \u3000 ideographic\u2003em \u202f\u205f end",
            "emoji \uD83D\uDE00\uD83D\uDC4D\uD83C\uDFFD family \uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67 flags \uD83C\uDDFA\uD83C\uDDF8\uD83C\uDDEF\uD83C\uDDF5",
            "\u4e2d\u6587\u6d4b\u8bd5\uff0c\u4f60\u597d\u4e16\u754c\u3002\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3001\u30ab\u30bf\u30ab\u30ca\u3002\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
            "numbers 1234567890 3.14159 1,000,000 -42 0x1F \u0663\u0664\u0665 \u2460\u2461 \u00bd 2024-01-31",
            "\u00dcn\u00efc\u00f6d\u00e9 caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u2014 \u201cquotes\u201d \u2018single\u2019 \u2026 \u2039\u203a",
            "combining e\u0301 vs \u00e9, A\u030a vs \u00c5, \ufb01 ligature, \u2126 ohm",
            "code: for (int i = 0; i < n; ++i) { x += a[i] * 2; } // comment",
            "    def f(x):\n        return x**2\n\n\n    pass\n",
            "mixed123abc ABC123 CamelCaseWord HTTPServer iPhone \u00c9cole \u0394\u03b5\u03bb\u03c4\u03b1 \u041f\u0440\u0438\u0432\u0435\u0442",
            "URL https://example.com/path?q=1&b=2#frag email a.b@c.org ///",
            "$$\\frac{1}{2}$$ \\alpha_{i}^{2} \u2264 \u2211 \u222b \u221e",
            "control \u0001\u0002 chars \u007f del",
            "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea \u0939\u093f\u0928\u094d\u0926\u0940 \u0e44\u0e17\u0e22",
            "!!!???...,,,;;;:::---___===+++***&&&%%%$$$###@@@",
            "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n<|endoftext|>",
            " <|im_end|> spaced <|im_end|>word<|im_end|>  ",
            "<s>[INST] hi [/INST]</s> <unk>",
            "<\uff5cbegin\u2581of\u2581sentence\uff5c>Hello<\uff5cUser\uff5c>hi<\uff5cAssistant\uff5c>",
            "<|startoftext|><|start|>user<|message|>hello<|end|><|return|>");
}
