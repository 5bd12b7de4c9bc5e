package io.moeprune.cli;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Issue 17 item 7: every numeric option is range-checked before the command runs, with a one-line error. */
class OptionRangesTest {
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "calibrate m --domain d --out o --max-tokens-per-demo -5 | --max-tokens-per-demo | '-5' must be at least 1",
            "calibrate m --domain d --out o --max-demos -1           | --max-demos          | '-1' must be at least 0",
            "calibrate m --domain d --out o --threads 0              | --threads            | '0' must be at least 1",
            "perplexity m --data d --max-tokens-per-doc 0            | --max-tokens-per-doc | '0' must be at least 1",
            "perplexity m --data d --max-tokens 99999999999          | --max-tokens         | '99999999999' is not a whole number",
            "generate m --prompt p --temperature -1                  | --temperature        | '-1' is not a finite number of at least 0",
            "generate m --prompt p --temperature NaN                 | --temperature        | 'NaN' is not a finite number of at least 0",
            "generate m --prompt p --top-p 1.5                       | --top-p              | '1.5' is not in (0, 1]",
            "generate m --prompt p --max-tokens 0                    | --max-tokens         | '0' must be at least 1",
            "eval m --limit 0                                        | --limit              | '0' must be at least 1",
            "select s --keep-ratio 0                                 | --keep-ratio         | '0' is not in (0, 1]",
            "select s --keep -3                                      | --keep               | '-3' must be at least 1",
            "select s --domain-weights 1,-2                          | --domain-weights     | '-2' is not a finite number of at least 0",
            "report m --keeps 8,0                                    | --keeps              | '0' must be at least 1",
            "quickstart --runs 0                                     | --runs               | '0' must be at least 1",
            "analyze s --keep 0                                      | --keep               | '0' must be at least 1",
    })
    void outOfRangeIsAOneLineUsageError(String args, String option, String problem) {
        RuntimeCommandsTest.Run r = RuntimeCommandsTest.run(args.strip().split(" +"));
        assertEquals(2, r.code(), r.err());
        String first = r.err().lines().findFirst().orElse("");
        assertTrue(first.startsWith("moeprune: error: Invalid value for option '" + option.strip() + "'"), first);
        assertTrue(first.endsWith(problem.strip()), first);
    }
}
