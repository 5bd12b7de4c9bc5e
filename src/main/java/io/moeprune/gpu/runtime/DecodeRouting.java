package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;

/**
 * Where a decode step's MoE blocks take their experts' row counts from ({@code -Dmoeprune.decodeRouting}, issue 22's
 * decode goal). {@code device} (the default since 2026-12-07): the counts stay on the device
 * ({@link io.moeprune.gpu.ops.DeviceOps#groupedLinearRouted}, the experts' addresses and kept flags uploaded once a
 * decoder, {@link DecodeRoutingTables}): nothing in a step's layers waits for the host. {@code host} (the decoder as
 * it was): the routing's expertStart downloaded in every MoE block (a synchronisation a layer) so the host builds the
 * products' tables, the kept flags of a mask uploaded every step. The same bits on HostOps; on an H100 the routed
 * kernel ran a Qwen3-30B-A3B decode step's products in 0.25 + 0.15 ms a layer (cuBLAS batched: 0.46 + 0.34) and one
 * sequence decoded 11 % faster (BENCHMARKS.md, 2026-12-07).
 */
public enum DecodeRouting {
    HOST, DEVICE;

    public static final String PROPERTY = "moeprune.decodeRouting";

    /** The switch as set now ({@code device} when unset); a bad value is the one-line bad-input error. */
    public static DecodeRouting fromProperties() {
        String v = System.getProperty(PROPERTY, "device").trim();
        return switch (v) {
            case "host" -> HOST;
            case "device" -> DEVICE;
            default -> throw new MoepruneException("-D" + PROPERTY + "=" + v + ": not host or device",
                    MoepruneException.BAD_INPUT, null);
        };
    }
}
