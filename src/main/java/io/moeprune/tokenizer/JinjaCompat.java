package io.moeprune.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * Rewrites the few Jinja2 constructs of Hugging Face chat templates that jinjava parses differently into
 * equivalent forms jinjava understands:
 * <ul>
 *   <li>{@code seq[::-1]} (slice with a step) becomes {@code seq|reverse};</li>
 *   <li>in {@code namespace(a=expr, ...)} each value is parenthesised: jinjava binds {@code =} tighter than
 *       binary operators, so {@code n=messages|length - 1} would otherwise subtract from the parameter;</li>
 *   <li>{@code not x is defined} becomes {@code x is not defined}: Jinja2 applies a test before {@code not},
 *       jinjava applies {@code not} first (only simple operands - names, attributes, subscripts - are rewritten);</li>
 *   <li>transformers' {@code {% generation %}} / {@code {% endgeneration %}} markers (assistant masks) are
 *       dropped.</li>
 * </ul>
 */
final class JinjaCompat {
    /** "not OPERAND is [not] TEST" with a simple operand. */
    private static final java.util.regex.Pattern NOT_TEST = java.util.regex.Pattern.compile(
            "\\bnot\\s+([A-Za-z_][\\w.]*(?:\\[[^\\]\\[]*\\])*)\\s+is\\s+(not\\s+)?([A-Za-z_]\\w*)");

    private JinjaCompat() {
    }

    static String rewrite(String template) {
        String t = template.replace("[::-1]", "|reverse");
        t = t.replaceAll("\\{%-?\\s*(end)?generation\\s*-?%}", "");
        t = NOT_TEST.matcher(t).replaceAll(m -> java.util.regex.Matcher.quoteReplacement(
                m.group(1) + (m.group(2) == null ? " is not " : " is ") + m.group(3)));
        return parenthesiseNamespaceArguments(t);
    }

    private static String parenthesiseNamespaceArguments(String t) {
        StringBuilder out = new StringBuilder(t.length() + 16);
        int from = 0;
        while (true) {
            int call = t.indexOf("namespace(", from);
            if (call < 0 || (call > 0 && Character.isJavaIdentifierPart(t.charAt(call - 1)))) {
                if (call < 0) {
                    out.append(t, from, t.length());
                    return out.toString();
                }
                out.append(t, from, call + 1);
                from = call + 1;
                continue;
            }
            int open = call + "namespace".length();
            int close = matchingParen(t, open);
            if (close < 0) {
                out.append(t, from, t.length());
                return out.toString();
            }
            out.append(t, from, open + 1);
            List<String> args = topLevelArguments(t.substring(open + 1, close));
            for (int i = 0; i < args.size(); i++) {
                String a = args.get(i);
                int eq = keywordEquals(a);
                out.append(i > 0 ? ", " : "");
                out.append(eq < 0 ? a.strip() : a.substring(0, eq).strip() + "=(" + a.substring(eq + 1).strip() + ")");
            }
            out.append(')');
            from = close + 1;
        }
    }

    /** Index of the ')' closing the '(' at {@code open}, skipping quoted strings; -1 if none. */
    private static int matchingParen(String t, int open) {
        return nextTopLevel(t, open + 1, false);
    }

    /** The comma-separated arguments of an argument list, splitting only at top-level commas. */
    private static List<String> topLevelArguments(String s) {
        List<String> args = new ArrayList<>();
        int start = 0;
        for (int comma = nextTopLevel(s, 0, true); comma >= 0; comma = nextTopLevel(s, start, true)) {
            args.add(s.substring(start, comma));
            start = comma + 1;
        }
        if (!s.substring(start).isBlank()) {
            args.add(s.substring(start));
        }
        return args;
    }

    /**
     * Scans from {@code from}, skipping quoted strings and balanced brackets, for the first bracket that closes a level
     * opened before {@code from} or, when {@code commas}, the first comma outside brackets; its index, or -1.
     */
    private static int nextTopLevel(String t, int from, boolean commas) {
        int depth = 0;
        char quote = 0;
        for (int i = from; i < t.length(); i++) {
            char c = t.charAt(i);
            if (quote != 0) {
                if (c == '\\') {
                    i++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                if (depth-- == 0) {
                    return commas ? -1 : i;
                }
            } else if (commas && c == ',' && depth == 0) {
                return i;
            }
        }
        return -1;
    }

    /** Position of the '=' of "name=value" (not '=='), or -1. */
    private static int keywordEquals(String arg) {
        int i = 0;
        String a = arg;
        while (i < a.length() && Character.isWhitespace(a.charAt(i))) {
            i++;
        }
        int nameStart = i;
        while (i < a.length() && Character.isJavaIdentifierPart(a.charAt(i))) {
            i++;
        }
        if (i == nameStart) {
            return -1;
        }
        while (i < a.length() && Character.isWhitespace(a.charAt(i))) {
            i++;
        }
        return i < a.length() && a.charAt(i) == '=' && (i + 1 >= a.length() || a.charAt(i + 1) != '=') ? i : -1;
    }
}
