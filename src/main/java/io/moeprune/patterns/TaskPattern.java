package io.moeprune.patterns;

import io.moeprune.select.ExpertMask;

/** One stored task: the experts it keeps (a native mask) and the signature a prompt is matched against. */
public record TaskPattern(String name, ExpertMask mask, Signatures signatures) {
}
