package io.moeprune.prune;

import io.moeprune.MoepruneException;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses sizes the way transformers' max_shard_size does: "5GB" = 5·10⁹ bytes, "5GiB" = 5·2³⁰, plain bytes. */
public final class ByteSize {
    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([KMGT]I?B|B)?");

    private ByteSize() {
    }

    public static long parse(String text) {
        Matcher m = SIZE.matcher(text.trim().toUpperCase(Locale.ROOT));
        if (!m.matches()) throw new MoepruneException("size '" + text + "' is not a size such as 5GB, 500MB or 2GiB");
        double v = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "B" : m.group(2);
        double mult = switch (unit) {
            case "B" -> 1;
            case "KB" -> 1e3;
            case "MB" -> 1e6;
            case "GB" -> 1e9;
            case "TB" -> 1e12;
            case "KIB" -> 1L << 10;
            case "MIB" -> 1L << 20;
            case "GIB" -> 1L << 30;
            case "TIB" -> 1L << 40;
            default -> throw new MoepruneException("size '" + text + "' has an unknown unit");
        };
        long bytes = (long) (v * mult);
        if (bytes <= 0) throw new MoepruneException("size '" + text + "' must be positive");
        return bytes;
    }

    /** A size for messages: "1.5 GB", "800 MB", "12 KB", "512 B" (decimal units, as {@link #parse} reads them). */
    public static String format(long bytes) {
        if (bytes >= 1_000_000_000L) return String.format(Locale.ROOT, "%.1f GB", bytes / 1e9);
        if (bytes >= 1_000_000L) return String.format(Locale.ROOT, "%.0f MB", bytes / 1e6);
        if (bytes >= 1_000L) return String.format(Locale.ROOT, "%.0f KB", bytes / 1e3);
        return bytes + " B";
    }
}
