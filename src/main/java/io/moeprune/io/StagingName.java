package io.moeprune.io;

import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The name of a hidden sibling that a run writes before its output is in place:
 * {@code .TARGET.moeprune-ROLE-PID-pPARENTS-RANDOM}. The owner's PID lets a later run tell a dead run's leftovers
 * from a live concurrent run's; PARENTS is how many of the sibling's ancestors that run created (they are removed
 * with it when the run does not complete). ROLE is {@code staging} (the new output being written) or {@code old}
 * (the previous output, moved aside while --force replaces it).
 */
public record StagingName(String target, Role role, long pid, int createdParents, String random) {
    public enum Role {
        STAGING, OLD;

        String word() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private static final Pattern NAME = Pattern.compile("\\.(.+)\\.moeprune-(staging|old)-(\\d{1,19})-p(\\d{1,4})-([0-9a-f]{8})");

    /** A fresh name for this process. */
    static StagingName fresh(String target, Role role, int createdParents) {
        // Not UUID.randomUUID: its SecureRandom costs a cold JVM tens of milliseconds; the create/rename that uses
        // the name fails on a collision anyway.
        return new StagingName(target, role, ProcessHandle.current().pid(), createdParents,
                String.format("%08x", ThreadLocalRandom.current().nextInt()));
    }

    /** The name, if {@code file} is one of these for {@code target}. */
    static Optional<StagingName> parse(Path file, String target) {
        Matcher m = NAME.matcher(file.getFileName().toString());
        if (!m.matches() || !m.group(1).equals(target)) return Optional.empty();
        try {
            return Optional.of(new StagingName(target, Role.valueOf(m.group(2).toUpperCase(java.util.Locale.ROOT)),
                    Long.parseLong(m.group(3)), Integer.parseInt(m.group(4)), m.group(5)));
        } catch (NumberFormatException tooLong) {
            return Optional.empty();
        }
    }

    /** Whether the process that made this name still runs (a reused PID reads as alive: the safe mistake). */
    boolean ownerAlive() {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    @Override
    public String toString() {
        return "." + target + ".moeprune-" + role.word() + "-" + pid + "-p" + createdParents + "-" + random;
    }
}
