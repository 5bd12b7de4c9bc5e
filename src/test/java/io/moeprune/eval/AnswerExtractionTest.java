package io.moeprune.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class AnswerExtractionTest {

    @Test
    void gsm8kReferences() {
        assertEquals("72", AnswerExtraction.fromReference("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
                + "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"));
        assertEquals("1234", AnswerExtraction.fromReference("... #### 1,234"));
        assertEquals("-5", AnswerExtraction.fromReference("#### -5"));
        assertEquals("0.5", AnswerExtraction.fromReference("#### 0.50"));
        assertEquals("18", AnswerExtraction.fromReference("#### $18"));
        assertEquals("16", AnswerExtraction.fromReference("He bikes 400/25=16 hours\nThe answer is 16"));
        assertEquals("40", AnswerExtraction.fromReference("40"));
    }

    @Test
    void mathReferencesUseTheLastBoxWithNestedBraces() {
        assertEquals("\\frac{1}{2}", AnswerExtraction.fromReference("So $x = \\boxed{\\frac{1}{2}}$."));
        assertEquals("\\sqrt{2}", AnswerExtraction.fromReference("First \\boxed{3}, finally \\boxed{\\sqrt{2}}"));
        assertEquals("{a,b}", AnswerExtraction.fromReference("\\boxed{\\{a, b\\}}".replace("\\{", "{").replace("\\}", "}")));
    }

    @Test
    void boxedInOutput() {
        assertEquals("\\frac{3}{4}", AnswerExtraction.fromOutput("The probability is $\\boxed{\\frac{3}{4}}$."));
        assertEquals("\\frac{\\sqrt{3}}{2}", AnswerExtraction.fromOutput("so \\boxed{\\frac{\\sqrt{3}}{2}}"));
        assertEquals("5", AnswerExtraction.fromOutput("The answer is 7? No: \\boxed{5}"));
        assertEquals("12", AnswerExtraction.fromOutput("hence $\\boxed 12$"));
        assertEquals("2", AnswerExtraction.fromOutput("\\fbox{2}"));
        assertEquals("9", AnswerExtraction.fromOutput("\\boxed{\\text{9}}"));
        // Unbalanced braces: no box, fall back to the last number.
        assertEquals("3", AnswerExtraction.fromOutput("\\boxed{\\frac{1}{3}"));
    }

    @Test
    void theAnswerIs() {
        assertEquals("16", AnswerExtraction.fromOutput("He bikes 400 miles.\nThe answer is 16.\nQuestion: 99 apples"));
        assertEquals("16", AnswerExtraction.fromOutput("the final answer is: $16"));
        assertEquals("-3", AnswerExtraction.fromOutput("The answer is -3 degrees"));
        assertEquals("1200", AnswerExtraction.fromOutput("The answer is 1,200 dollars and 5 cents"));
        assertEquals("B", AnswerExtraction.fromOutput("I think the answer is B."));
        assertEquals("8", AnswerExtraction.fromOutput("The answer is 5. Wait, the answer is 8"));
    }

    @Test
    void hashesInOutput() {
        assertEquals("72", AnswerExtraction.fromOutput("48+24=72\n#### 72\nQuestion: 3 cats"));
        assertEquals("1000000", AnswerExtraction.fromOutput("#### 1,000,000"));
    }

    @Test
    void lastNumber() {
        assertEquals("42", AnswerExtraction.fromOutput("First 3, then 7, so 42"));
        assertEquals("-7", AnswerExtraction.fromOutput("It drops to -7"));
        assertEquals("3.14", AnswerExtraction.fromOutput("pi is about 3.14."));
        assertEquals("2500", AnswerExtraction.fromOutput("She pays $2,500.00 in total"));
        assertEquals("0.5", AnswerExtraction.fromOutput("half is .5"));
        assertEquals("8", AnswerExtraction.fromOutput("10-2=8"));
        assertNull(AnswerExtraction.fromOutput("no digits here"));
        assertNull(AnswerExtraction.fromOutput(""));
    }

    @Test
    void normalization() {
        assertEquals("18", AnswerExtraction.normalize(" $18.00 "));
        assertEquals("18", AnswerExtraction.normalize("18.0"));
        assertEquals("18", AnswerExtraction.normalize("+18"));
        assertEquals("18", AnswerExtraction.normalize("18."));
        assertEquals("1234.5", AnswerExtraction.normalize("1,234.50"));
        assertEquals("0", AnswerExtraction.normalize("-0.0"));
        assertEquals("100", AnswerExtraction.normalize("1e2".replace("1e2", "100")));
        assertEquals("\\frac{1}{2}", AnswerExtraction.normalize("\\frac{1}{2}"));
        assertEquals("\\frac{1}{2}", AnswerExtraction.normalize("$ \\frac {1}{2} $"));
        assertEquals("5", AnswerExtraction.normalize("\\$5"));
        assertEquals("10", AnswerExtraction.normalize("10\\!"));
        assertEquals("1,2,", AnswerExtraction.normalize("1,2,"));
        assertEquals("1,2", AnswerExtraction.normalize("1, 2"));
    }

    @Test
    void exactMatchAcrossFormats() {
        assertEquals(AnswerExtraction.fromReference("#### 1,234"), AnswerExtraction.fromOutput("So it costs $1234.00."));
        assertEquals(AnswerExtraction.fromReference("\\boxed{\\frac{1}{2}}"),
                AnswerExtraction.fromOutput("The answer is $\\boxed{\\frac {1}{2}}$"));
    }

    @Test
    void stopStringsCutTheOutput() {
        assertEquals(" 5\n", GenerationEvaluation.cut(" 5\nQuestion: x\n\n", java.util.List.of("\n\n", "Question:")));
        assertNull(GenerationEvaluation.cut("no stop", java.util.List.of("Question:")));
    }
}
