package io.moeprune.report;

import io.moeprune.MoepruneException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * An output directory written in a hidden sibling and renamed into place when complete, so a failed or interrupted
 * run never leaves a half-written report, and an existing one is replaced only with --force (and only once the new
 * one is complete).
 */
public final class StagedDirectory implements AutoCloseable {
    private final Path out;
    private final Path staging;
    private final boolean force;
    private boolean committed;

    private StagedDirectory(Path out, Path staging, boolean force) {
        this.out = out;
        this.staging = staging;
        this.force = force;
    }

    public static StagedDirectory prepare(Path out, boolean force) {
        Path abs = out.toAbsolutePath().normalize();
        if (Files.exists(abs) && !force && !isEmptyDirectory(abs)) {
            throw MoepruneException.inFile(out, "already exists; pass --force to replace it (or choose another --out)");
        }
        if (Files.exists(abs) && !Files.isDirectory(abs)) {
            throw MoepruneException.inFile(out, "exists and is not a directory");
        }
        try {
            Files.createDirectories(abs.getParent());
            Path staging = Files.createTempDirectory(abs.getParent(), "." + abs.getFileName() + ".tmp-");
            try {   // temp directories are private (700); the output is an ordinary directory
                Files.setPosixFilePermissions(staging, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system: keep its defaults
            }
            return new StagedDirectory(abs, staging, force);
        } catch (IOException e) {
            throw MoepruneException.inFile(out, "cannot create the output directory: " + e.getMessage());
        }
    }

    public Path staging() {
        return staging;
    }

    public Path out() {
        return out;
    }

    /** Moves the complete output into place, replacing an existing directory (checked in prepare). */
    public void commit() {
        try {
            Path old = null;
            if (Files.exists(out)) {
                old = staging.resolveSibling(staging.getFileName() + ".old");
                Files.move(out, old);
            }
            try {
                Files.move(staging, out, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(staging, out);
            }
            committed = true;
            if (old != null) deleteTree(old);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot move " + staging + " to " + out, e);
        }
    }

    @Override
    public void close() {
        if (!committed) deleteTree(staging);
    }

    private static boolean isEmptyDirectory(Path p) {
        if (!Files.isDirectory(p)) return false;
        try (Stream<Path> s = Files.list(p)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    // best effort: a leftover temp file is not worth failing the run for
                }
            });
        } catch (IOException e) {
            // as above
        }
    }
}
