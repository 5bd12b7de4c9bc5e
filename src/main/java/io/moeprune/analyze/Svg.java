package io.moeprune.analyze;

import java.util.List;
import java.util.Locale;

/** Minimal SVG drawing for the analysis and report plots: a heatmap with values, and a line chart. */
public final class Svg {
    private static final String[] PALETTE = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
            "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

    private Svg() {
    }

    public static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    /** White-to-blue colour for a value in [0, 1]. */
    static String blue(double v) {
        double t = Math.max(0, Math.min(1, Double.isNaN(v) ? 0 : v));
        int r = (int) Math.round(247 - t * (247 - 8)), g = (int) Math.round(251 - t * (251 - 81)),
                b = (int) Math.round(255 - t * (255 - 156));
        return String.format("#%02x%02x%02x", r, g, b);
    }

    /** A labelled heatmap of values in [0, 1] (values printed in cells when the grid is small enough). */
    public static String heatmap(String title, List<String> rowLabels, List<String> colLabels, double[][] values) {
        return heatmap(title, rowLabels, colLabels, values, colLabels.size() > 16 ? 14 : 44, null);
    }

    /** As above with a given cell size (values printed when cells are 40+ px) and an optional column axis label. */
    public static String heatmap(String title, List<String> rowLabels, List<String> colLabels, double[][] values,
                                 int cell, String colAxisLabel) {
        return heatmap(title, rowLabels, colLabels, values, cell, colAxisLabel, null, null);
    }

    /**
     * As above, with a colour scale under the grid and, where {@code marked[r][c]}, a dot in the cell (e.g. the
     * experts a mask keeps), explained in the legend by {@code markLabel}.
     */
    public static String heatmap(String title, List<String> rowLabels, List<String> colLabels, double[][] values,
                                 int cell, String colAxisLabel, boolean[][] marked, String markLabel) {
        int left = 90, top = 40;
        int gridBottom = top + cell * rowLabels.size() + (colAxisLabel == null ? 24 : 40);
        int w = Math.max(left + cell * colLabels.size() + 20, left + 330), h = gridBottom + 50;
        StringBuilder sb = header(w, h, title);
        for (int r = 0; r < rowLabels.size(); r++) {
            sb.append(text(left - 6, top + r * cell + cell / 2 + 4, rowLabels.get(r), "end", 11));
            for (int c = 0; c < colLabels.size(); c++) {
                double v = values[r][c];
                sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                        + "stroke=\"#ffffff\"><title>%s / %s: %.3f</title></rect>%n", left + c * cell, top + r * cell,
                        cell, cell, blue(v), escape(rowLabels.get(r)), escape(colLabels.get(c)), v));
                if (cell >= 40) {
                    sb.append(text(left + c * cell + cell / 2, top + r * cell + cell / 2 + (marked != null ? 12 : 4),
                            String.format(Locale.ROOT, "%.2f", v), "middle", 10, v > 0.6 ? "#ffffff" : "#000000"));
                }
                if (marked != null && marked[r][c]) {
                    sb.append(String.format(Locale.ROOT, "<circle cx=\"%d\" cy=\"%d\" r=\"%.1f\" fill=\"%s\"/>%n",
                            left + c * cell + cell / 2, top + r * cell + (cell >= 40 ? cell / 3 : cell / 2),
                            Math.max(1.5, cell / 6.0), v > 0.6 ? "#ffffff" : "#c62828"));
                }
            }
        }
        for (int c = 0; c < colLabels.size(); c++) {
            if (cell >= 40 || c % 4 == 0) {
                sb.append(text(left + c * cell + cell / 2, top + rowLabels.size() * cell + 16, colLabels.get(c), "middle", 10));
            }
        }
        if (colAxisLabel != null) {
            sb.append(text(left + cell * colLabels.size() / 2, top + rowLabels.size() * cell + 34, colAxisLabel, "middle", 11));
        }
        colourScale(sb, left, gridBottom, marked == null ? null : markLabel);
        return sb.append("</svg>\n").toString();
    }

    /** The colour scale of {@link #blue}: a bar from 0 to 1 with ticks at 0, 0.5 and 1, and the dot's meaning. */
    private static void colourScale(StringBuilder sb, int x, int y, String markLabel) {
        int width = 160, steps = 20;
        for (int i = 0; i < steps; i++) {
            sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"10\" fill=\"%s\"/>%n",
                    x + i * width / steps, y, width / steps + 1, blue((i + 0.5) / steps)));
        }
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"10\" fill=\"none\" "
                + "stroke=\"#888\"/>%n", x, y, width));
        for (int i = 0; i <= 2; i++) {
            sb.append(text(x + i * width / 2, y + 24, i == 0 ? "0" : i == 1 ? "0.5" : "1", "middle", 10));
        }
        if (markLabel != null) {
            sb.append(String.format(Locale.ROOT, "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"#c62828\"/>%n", x + width + 20, y + 5));
            sb.append(text(x + width + 28, y + 9, markLabel, "start", 10));
        }
    }

    /** Lines of y against x, one per series, y in [yMin, yMax]. */
    public static String lineChart(String title, String xLabel, String yLabel, double[] x, List<String> names,
                                   List<double[]> ys, double yMin, double yMax) {
        return lineChart(title, xLabel, yLabel, x, names, ys, yMin, yMax, null, Double.NaN);
    }

    /**
     * Lines of y against x, one per series, and a dashed horizontal reference line at {@code referenceY} named
     * {@code referenceName} (e.g. the full model; none when referenceName is null).
     */
    public static String lineChart(String title, String xLabel, String yLabel, double[] x, List<String> names,
                                   List<double[]> ys, double yMin, double yMax, String referenceName, double referenceY) {
        int w = 560, h = 340, left = 60, right = 150, top = 40, bottom = 50;
        int pw = w - left - right, ph = h - top - bottom;
        double xMin = x[0], xMax = x[x.length - 1];
        // The y axis runs from tick to tick on round numbers around the requested range.
        AxisTicks ticks = AxisTicks.of(yMin, yMax, 5);
        yMin = ticks.min();
        yMax = ticks.max();
        StringBuilder sb = header(w, h, title);
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                + "stroke=\"#444\"/>%n", left, top, pw, ph));
        for (int i = 0; i < ticks.count(); i++) {
            int y = top + ph - (int) Math.round(ph * (ticks.tick(i) - yMin) / (yMax - yMin));
            sb.append(text(left - 6, y + 4, ticks.label(i), "end", 10));
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>%n",
                    left, y, left + pw, y));
        }
        for (double xv : x) {
            sb.append(text(px(xv, xMin, xMax, left, pw), top + ph + 16, fmt(xv), "middle", 10));
        }
        sb.append(text(left + pw / 2, h - 10, xLabel, "middle", 12));
        sb.append(String.format(Locale.ROOT, "<text x=\"14\" y=\"%d\" font-size=\"12\" transform=\"rotate(-90 14 %d)\" "
                + "text-anchor=\"middle\">%s</text>%n", top + ph / 2, top + ph / 2, escape(yLabel)));
        for (int s = 0; s < ys.size(); s++) {
            String colour = PALETTE[s % PALETTE.length];
            StringBuilder pts = new StringBuilder();
            for (int i = 0; i < x.length; i++) {
                double yv = ys.get(s)[i];
                if (Double.isNaN(yv)) continue;
                int py = top + ph - (int) Math.round(ph * (yv - yMin) / (yMax - yMin));
                pts.append(px(x[i], xMin, xMax, left, pw)).append(',').append(py).append(' ');
                sb.append(String.format(Locale.ROOT, "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"%s\"><title>%s: %s, %.4f"
                        + "</title></circle>%n", px(x[i], xMin, xMax, left, pw), py, colour, escape(names.get(s)), fmt(x[i]), yv));
            }
            sb.append(String.format("<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>%n",
                    pts.toString().trim(), colour));
            sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"4\" fill=\"%s\"/>%n",
                    left + pw + 12, top + 10 + s * 18, colour));
            sb.append(text(left + pw + 30, top + 15 + s * 18, names.get(s), "start", 11));
        }
        if (referenceName != null) {
            int py = top + ph - (int) Math.round(ph * (referenceY - yMin) / (yMax - yMin));
            int ly = top + 10 + ys.size() * 18;
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\" "
                    + "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"><title>%s: %.4f</title></line>%n", left, py, left + pw, py,
                    escape(referenceName), referenceY));
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\" "
                    + "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>%n", left + pw + 10, ly + 2, left + pw + 26, ly + 2));
            sb.append(text(left + pw + 30, ly + 5, referenceName, "start", 11));
        }
        return sb.append("</svg>\n").toString();
    }

    private static int px(double xv, double xMin, double xMax, int left, int pw) {
        boolean log = xMin > 0 && xMax / xMin >= 8;   // demonstration counts 1..16 read better on a log axis
        double t = log ? Math.log(xv / xMin) / Math.log(xMax / xMin) : (xv - xMin) / Math.max(xMax - xMin, 1e-12);
        return left + (int) Math.round(pw * t);
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : String.format(Locale.ROOT, "%.2f", v);
    }

    private static StringBuilder header(int w, int h, String title) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                + "font-family=\"sans-serif\">%n", w, h, w, h));
        sb.append("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
        sb.append(text(w / 2, 22, title, "middle", 14));
        return sb;
    }

    private static String text(int x, int y, String s, String anchor, int size) {
        return text(x, y, s, anchor, size, "#000000");
    }

    private static String text(int x, int y, String s, String anchor, int size, String fill) {
        return String.format("<text x=\"%d\" y=\"%d\" font-size=\"%d\" text-anchor=\"%s\" fill=\"%s\">%s</text>%n",
                x, y, size, anchor, fill, escape(s));
    }
}
