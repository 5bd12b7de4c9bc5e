package io.moeprune.prune;

/**
 * Compares tensor names with digit runs as numbers, so layer 10 comes after layer 9 (checkpoint order). No regex
 * and no allocation: it runs for every comparison of a sort over tens of thousands of names.
 */
final class NaturalOrder {
    private NaturalOrder() {
    }

    static int compare(String a, String b) {
        int i = 0, j = 0;
        while (i < a.length() && j < b.length()) {
            char x = a.charAt(i), y = b.charAt(j);
            if (isDigit(x) && isDigit(y)) {
                while (i < a.length() - 1 && a.charAt(i) == '0' && isDigit(a.charAt(i + 1))) i++;   // leading zeros
                while (j < b.length() - 1 && b.charAt(j) == '0' && isDigit(b.charAt(j + 1))) j++;
                int ei = i, ej = j;
                while (ei < a.length() && isDigit(a.charAt(ei))) ei++;
                while (ej < b.length() && isDigit(b.charAt(ej))) ej++;
                if (ei - i != ej - j) return Integer.compare(ei - i, ej - j);   // fewer digits = smaller number
                for (; i < ei; i++, j++) {
                    if (a.charAt(i) != b.charAt(j)) return Character.compare(a.charAt(i), b.charAt(j));
                }
            } else {
                if (x != y) return Character.compare(x, y);
                i++;
                j++;
            }
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }
}
