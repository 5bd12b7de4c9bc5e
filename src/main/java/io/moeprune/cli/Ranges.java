package io.moeprune.cli;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * The range checks of numeric options, as picocli converters named on the option ({@code converter =
 * Ranges.Positive.class}): one mechanism for every command, so a value out of range is a one-line usage error
 * (exit 2) before the command runs, never an exception deep inside it (a negative token count once became a
 * NegativeArraySizeException).
 */
final class Ranges {
    private Ranges() {
    }

    /** A count that must be at least 1 (tokens, documents, runs, threads, experts kept). */
    static final class Positive implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return atLeast(value, 1);
        }
    }

    /** A count where 0 has a meaning of its own (e.g. "all"). */
    static final class NonNegative implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return atLeast(value, 0);
        }
    }

    /** A fraction in (0, 1] (keep ratio, top-p mass). */
    static final class Fraction implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            double d = number(value);
            if (!(d > 0 && d <= 1)) throw new TypeConversionException("'" + value + "' is not in (0, 1]");
            return d;
        }
    }

    /** {@link Fraction} for float options. */
    static final class FloatFraction implements ITypeConverter<Float> {
        @Override
        public Float convert(String value) {
            return new Fraction().convert(value).floatValue();
        }
    }

    /** A finite number of at least 0 (temperature, domain weights). */
    static final class NonNegativeFloat implements ITypeConverter<Float> {
        @Override
        public Float convert(String value) {
            double d = number(value);
            if (!(d >= 0 && d <= Float.MAX_VALUE)) {
                throw new TypeConversionException("'" + value + "' is not a finite number of at least 0");
            }
            return (float) d;
        }
    }

    /** {@link NonNegativeFloat} for double options. */
    static final class NonNegativeDouble implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            return (double) new NonNegativeFloat().convert(value);
        }
    }

    private static int atLeast(String value, int min) {
        int v;
        try {
            v = Integer.parseInt(value.strip());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + value + "' is not a whole number");
        }
        if (v < min) throw new TypeConversionException("'" + value + "' must be at least " + min);
        return v;
    }

    private static double number(String value) {
        try {
            return Double.parseDouble(value.strip());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + value + "' is not a number");
        }
    }
}
