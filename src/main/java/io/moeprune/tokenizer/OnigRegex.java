package io.moeprune.tokenizer;

import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Compiles the Oniguruma patterns of tokenizer.json (Hugging Face tokenizers uses Oniguruma) as Java patterns.
 * Most syntax is shared; the differences that matter for tokenizer patterns are handled here:
 * <ul>
 *   <li>{@code \s}, {@code \w}, {@code \d} and {@code (?i)} are Unicode-aware in Oniguruma: compiled with
 *       {@link Pattern#UNICODE_CHARACTER_CLASS} (which implies Unicode case folding).</li>
 *   <li>Inside a character class Java reads a bare {@code [} as a nested class and {@code &&} as an
 *       intersection; Oniguruma patterns from tokenizers escape {@code [} but not always {@code &}: both are
 *       escaped here.</li>
 *   <li>{@code \p{^X}} (Oniguruma's negated property) becomes {@code \P{X}}; {@code \h} (hex digit in Oniguruma,
 *       horizontal space in Java) becomes {@code [0-9a-fA-F]}.</li>
 * </ul>
 * Possessive quantifiers, atomic groups, look-around and {@code (?i:...)} groups are the same in both.
 */
final class OnigRegex {
    private OnigRegex() {
    }

    static Pattern compile(String onig) {
        String java = translate(onig);
        try {
            return Pattern.compile(java, Pattern.UNICODE_CHARACTER_CLASS);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("unsupported regex " + onig + ": " + e.getDescription(), e);
        }
    }

    static String translate(String p) {
        StringBuilder out = new StringBuilder(p.length() + 16);
        int classDepth = 0;
        for (int i = 0; i < p.length(); i++) {
            char c = p.charAt(i);
            if (c == '\\' && i + 1 < p.length()) {
                char n = p.charAt(i + 1);
                if (n == 'p' && i + 3 < p.length() && p.charAt(i + 2) == '{' && p.charAt(i + 3) == '^') {
                    out.append("\\P{");
                    i += 3;
                } else if (n == 'h') {
                    out.append(classDepth > 0 ? "0-9a-fA-F" : "[0-9a-fA-F]");
                    i++;
                } else if (n == 'H') {
                    out.append(classDepth > 0 ? "\\x{0}-/:-@G-`g-\\x{10FFFF}" : "[^0-9a-fA-F]");
                    i++;
                } else {
                    out.append(c).append(n);
                    i++;
                }
            } else if (classDepth == 0) {
                if (c == '[') {
                    classDepth = 1;
                    out.append(c);
                    // A ']' (or '^]') right after the opening bracket is a literal in Oniguruma.
                    if (i + 1 < p.length() && p.charAt(i + 1) == '^') {
                        out.append('^');
                        i++;
                    }
                    if (i + 1 < p.length() && p.charAt(i + 1) == ']') {
                        out.append("\\]");
                        i++;
                    }
                } else {
                    out.append(c);
                }
            } else {
                if (c == '[') {
                    if (i + 1 < p.length() && p.charAt(i + 1) == ':') {
                        int end = p.indexOf(":]", i + 2);
                        if (end > 0) { // POSIX bracket [:alpha:]
                            out.append(posix(p.substring(i + 2, end)));
                            i = end + 1;
                            continue;
                        }
                    }
                    out.append("\\[");
                } else if (c == ']') {
                    classDepth = 0;
                    out.append(c);
                } else if (c == '&') {
                    out.append("\\&");
                } else {
                    out.append(c);
                }
            }
        }
        return out.toString();
    }

    private static String posix(String name) {
        return switch (name) {
            case "alpha" -> "\\p{IsAlphabetic}";
            case "digit" -> "\\p{Nd}";
            case "alnum" -> "\\p{IsAlphabetic}\\p{Nd}";
            case "space" -> "\\s";
            case "upper" -> "\\p{IsUppercase}";
            case "lower" -> "\\p{IsLowercase}";
            case "punct" -> "\\p{IsPunctuation}";
            default -> throw new IllegalArgumentException("unsupported POSIX class [:" + name + ":]");
        };
    }
}
