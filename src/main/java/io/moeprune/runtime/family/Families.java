package io.moeprune.runtime.family;

import io.moeprune.MoepruneException;
import io.moeprune.model.ModelSpec;

/** The runtime implementation of each family. */
public final class Families {
    private Families() {
    }

    public static FamilyRuntime of(ModelSpec spec) {
        return switch (spec.family()) {
            case QWEN3_MOE, QWEN2_MOE, OLMOE, MIXTRAL, GRANITE_MOE, GPT_OSS -> LlamaStyleFamily.INSTANCE;
            case DEEPSEEK_V2, DEEPSEEK_V3 -> DeepSeekFamily.INSTANCE;
            default -> throw new MoepruneException("the runtime does not run " + spec.family().modelType()
                    + " models yet (supported: qwen3_moe, qwen2_moe, olmoe, mixtral, granitemoe, gpt_oss, deepseek_v2, deepseek_v3)");
        };
    }
}
