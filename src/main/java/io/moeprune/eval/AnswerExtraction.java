package io.moeprune.eval;

import java.math.BigDecimal;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Final answers of math word problems, for exact-match scoring of generations.
 *
 * <p>A reference answer is the text after its last {@code ####} (GSM8K), else the content of its last
 * {@code \boxed{...}} (MATH), else the whole answer. A model's answer is, in order of preference: the content of its
 * last {@code \boxed{...}} (braces nested to any depth), the number after its last {@code ####}, the number (else
 * the rest of the line) after its last "the answer is" / "the final answer is" (any case), else the last number
 * in the output. A reference without {@code ####} or {@code \boxed} may also state "The answer is n". Both sides
 * are then {@link #normalize normalised}, so "1,234", "$1234" and "1234.00" all match.
 */
public final class AnswerExtraction {
    /** Thousands-separated numbers first, so "1,234" is one number; then plain integers/decimals, ".5". */
    private static final Pattern NUMBER = Pattern.compile("-?\\d{1,3}(?:,\\d{3})+(?:\\.\\d+)?|-?\\d+(?:\\.\\d+)?|-?\\.\\d+");
    private static final Pattern ANSWER_IS = Pattern.compile("(?i)the\\s+(?:final\\s+)?answer\\s+is\\s*:?");
    private static final Pattern NUMERIC = Pattern.compile("[+-]?(?:(?:\\d{1,3}(?:,\\d{3})+|\\d+)(?:\\.\\d*)?|\\.\\d+)");

    private AnswerExtraction() {
    }

    /** The final answer of a reference solution (never null; may be empty). */
    public static String fromReference(String answer) {
        int i = answer.lastIndexOf("####");
        if (i >= 0) return normalize(answer.substring(i + 4));
        String boxed = lastBoxed(answer);
        if (boxed != null) return normalize(boxed);
        String stated = afterAnswerIs(answer);
        return normalize(stated != null ? stated : answer);
    }

    /** The final answer the model gave, or null when its output has none. */
    public static String fromOutput(String output) {
        String boxed = lastBoxed(output);
        if (boxed != null) return normalize(boxed);
        int i = output.lastIndexOf("####");
        if (i >= 0) {
            String rest = restOfLine(output, i + 4);
            String n = firstNumber(rest);
            if (n != null || !rest.isBlank()) return normalize(n != null ? n : rest);
        }
        String stated = afterAnswerIs(output);
        if (stated != null) return normalize(stated);
        String last = null;
        Matcher num = NUMBER.matcher(output);
        while (num.find()) last = num.group();
        return last == null ? null : normalize(last);
    }

    /**
     * The content of the last {@code \boxed{...}} (or {@code \fbox{...}}), matching nested braces; also the
     * brace-less form {@code \boxed 5}. Null when there is none or its braces are unbalanced.
     */
    public static String lastBoxed(String text) {
        int at = Math.max(text.lastIndexOf("\\boxed"), text.lastIndexOf("\\fbox"));
        if (at < 0) return null;
        int i = at + (text.startsWith("\\boxed", at) ? 6 : 5);
        if (i < text.length() && text.charAt(i) == ' ') {
            int end = i + 1;
            while (end < text.length() && !Character.isWhitespace(text.charAt(end)) && text.charAt(end) != '$') end++;
            return text.substring(i + 1, end);
        }
        if (i >= text.length() || text.charAt(i) != '{') return null;
        int depth = 0;
        for (int j = i; j < text.length(); j++) {
            char c = text.charAt(j);
            if (c == '{') depth++;
            else if (c == '}' && --depth == 0) return text.substring(i + 1, j);
        }
        return null;
    }

    /**
     * A comparable form of an answer: surrounding whitespace, dollar signs (plain and {@code \$}), {@code \!},
     * {@code \text{...}} / {@code \mathrm{...}} wrappers and a final period removed, whitespace dropped; a number
     * without thousands separators, leading "+", trailing zeros after the decimal point or "-0".
     */
    public static String normalize(String answer) {
        String s = answer.strip()
                .replace("\\$", "").replace("$", "").replace("\\!", "")
                .replaceAll("\\\\(?:text|mathrm|textbf)\\{([^{}]*)}", "$1")
                .replaceAll("\\s+", "");
        if (s.endsWith(".")) s = s.substring(0, s.length() - 1);
        if (NUMERIC.matcher(s).matches()) {
            String digits = s.replace(",", "");
            if (digits.startsWith("+")) digits = digits.substring(1);
            try {
                BigDecimal d = new BigDecimal(digits);
                if (d.signum() == 0) return "0";
                return d.stripTrailingZeros().toPlainString();
            } catch (NumberFormatException ignored) {
                // Not a number after all (e.g. "1,2,"); compare as text.
            }
        }
        return s;
    }

    /** The number (else the rest of the line) after the last "the (final) answer is", or null. */
    private static String afterAnswerIs(String text) {
        Matcher m = ANSWER_IS.matcher(text);
        int after = -1;
        while (m.find()) after = m.end();
        if (after < 0) return null;
        String rest = restOfLine(text, after);
        String n = firstNumber(rest);
        if (n != null) return n;
        String stated = rest.strip();
        return stated.isEmpty() ? null : stated;
    }

    private static String firstNumber(String text) {
        Matcher m = NUMBER.matcher(text);
        return m.find() ? m.group() : null;
    }

    private static String restOfLine(String text, int from) {
        int nl = text.indexOf('\n', from);
        return text.substring(from, nl < 0 ? text.length() : nl);
    }
}
