package io.moeprune.runtime;

import java.util.stream.Stream;

/**
 * The conformance fixtures under src/test/resources/conformance that tests run a whole family over (every family of
 * the runtime, F32 and quantised variants), one list for
 * {@code @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")}.
 */
public final class ConformanceFixtures {
    private ConformanceFixtures() {
    }

    public static Stream<String> all() {
        return Stream.of("qwen3_moe", "qwen3_moe_f32", "qwen2_moe", "olmoe", "mixtral", "granitemoe", "gpt_oss",
                "gpt_oss_mxfp4", "deepseek_v2", "deepseek_v3", "deepseek_v3_fp8");
    }
}
