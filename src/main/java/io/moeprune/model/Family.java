package io.moeprune.model;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/** The MoE model families moeprune understands, keyed by Hugging Face {@code model_type}. */
public enum Family {
    QWEN3_MOE("qwen3_moe", "Qwen3MoeForCausalLM"),
    QWEN2_MOE("qwen2_moe", "Qwen2MoeForCausalLM"),
    OLMOE("olmoe", "OlmoeForCausalLM"),
    MIXTRAL("mixtral", "MixtralForCausalLM"),
    DEEPSEEK_V2("deepseek_v2", "DeepseekV2ForCausalLM"),
    DEEPSEEK_V3("deepseek_v3", "DeepseekV3ForCausalLM"),
    GPT_OSS("gpt_oss", "GptOssForCausalLM"),
    GRANITE_MOE("granitemoe", "GraniteMoeForCausalLM");

    private final String modelType;
    private final String architecture;

    Family(String modelType, String architecture) {
        this.modelType = modelType;
        this.architecture = architecture;
    }

    public String modelType() {
        return modelType;
    }

    public String architecture() {
        return architecture;
    }

    public static Optional<Family> fromModelType(String modelType) {
        return Arrays.stream(values()).filter(f -> f.modelType.equals(modelType)).findFirst();
    }

    public static Optional<Family> fromArchitecture(String architecture) {
        return Arrays.stream(values()).filter(f -> f.architecture.equals(architecture)).findFirst();
    }

    /** "qwen3_moe (Qwen3MoeForCausalLM), ..." for error messages. */
    public static String supportedList() {
        return Arrays.stream(values()).map(f -> f.modelType + " (" + f.architecture + ")").collect(Collectors.joining(", "));
    }
}
