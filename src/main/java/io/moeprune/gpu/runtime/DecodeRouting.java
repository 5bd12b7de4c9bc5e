package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;

/**
 * Where a decode step's MoE blocks take their experts' row counts from ({@code -Dmoeprune.decodeRouting}, issue 22's
 * decode goal). {@code host} (the default, the decoder as it was): the routing's expertStart downloaded in every MoE
 * block (a synchronisation a layer) so the host builds the products' tables, the kept flags of a mask uploaded every
 * step. {@code device}: the counts stay on the device ({@link io.moeprune.gpu.ops.DeviceOps#groupedLinearRouted}, the
 * experts' addresses and kept flags uploaded once a decoder, {@link DecodeRoutingTables}): nothing in a step's layers
 * waits for the host. The same bits on HostOps; the default flips once a GPU has measured it.
 */
public enum DecodeRouting {
    HOST, DEVICE;

    public static final String PROPERTY = "moeprune.decodeRouting";

    /** The switch as set now ({@code host} when unset); a bad value is the one-line bad-input error. */
    public static DecodeRouting fromProperties() {
        String v = System.getProperty(PROPERTY, "host").trim();
        return switch (v) {
            case "host" -> HOST;
            case "device" -> DEVICE;
            default -> throw new MoepruneException("-D" + PROPERTY + "=" + v + ": not host or device",
                    MoepruneException.BAD_INPUT, null);
        };
    }
}
