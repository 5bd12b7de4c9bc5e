package io.moeprune.model;

import java.util.List;

/**
 * How a checkpoint's weights are quantised, read from {@code quantization_config} of config.json. Inspection
 * uses it to expect the companion tensors; the runtime uses it to dequantise.
 *
 * <ul>
 *   <li>{@link Method#NONE}: plain floating-point weights.</li>
 *   <li>{@link Method#FP8}: block-scaled FP8 (DeepSeek-V3 / transformers FineGrainedFP8): each quantised linear
 *       weight {@code X.weight} [rows, cols] is F8 and has a companion {@code X.weight_scale_inv} F32
 *       [ceil(rows/blockRows), ceil(cols/blockCols)]; value = fp8 × scale_inv of its block. Embeddings, LM head,
 *       norms and routers stay unquantised.</li>
 *   <li>{@link Method#MXFP4}: gpt-oss: each fused expert tensor {@code P} [E, rows, cols] (after transposing to
 *       output-major) is stored as {@code P_blocks} U8 [E, rows, cols/32, 16] (two 4-bit E2M1 values per byte)
 *       and {@code P_scales} U8 [E, rows, cols/32] (E8M0 exponents, bias 127); everything else stays as is.</li>
 * </ul>
 *
 * @param method              the quantisation method
 * @param blockRows           FP8 block height (rows per scale), 0 when not FP8
 * @param blockCols           FP8 block width (columns per scale), 0 when not FP8
 * @param modulesToNotConvert module name patterns the config excludes from quantisation (may be empty)
 */
public record Quantization(Method method, int blockRows, int blockCols, List<String> modulesToNotConvert) {

    public enum Method { NONE, FP8, MXFP4 }

    public static final Quantization NONE = new Quantization(Method.NONE, 0, 0, List.of());

    /** Elements per MXFP4 scale group. */
    public static final int MXFP4_GROUP = 32;

    public boolean isQuantized() {
        return method != Method.NONE;
    }
}
