package io.moeprune.prune;

import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The output of a pruning: everything is written into a hidden staging directory next to the target and renamed
 * to the target only when complete. An existing target is replaced (with {@code force}) only after the new one is
 * complete. Without {@link #commit()}, {@link #close()} removes the staging directory and any parent directories
 * this class created, so a failure leaves nothing behind; a shutdown hook does the same on Ctrl-C.
 */
final class OutputDirectory implements AutoCloseable {
    private final Path target;
    private final Path staging;
    private final boolean replace;
    private final List<Path> createdParents;
    private final Thread hook;
    private boolean committed;

    private OutputDirectory(Path target, Path staging, boolean replace, List<Path> createdParents) {
        this.target = target;
        this.staging = staging;
        this.replace = replace;
        this.createdParents = createdParents;
        this.hook = new Thread(this::removeStaging, "moeprune-prune-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /** Checks the target against the input model and makes the staging directory. */
    static OutputDirectory prepare(Path target, Path modelDir, boolean force) {
        Path out = target.toAbsolutePath().normalize();
        Path model;
        try {
            model = modelDir.toRealPath();
        } catch (IOException e) {
            throw MoepruneException.inFile(modelDir, "cannot be read: " + e.getMessage());
        }
        Path realOut = realish(out);
        if (realOut.equals(model) || model.startsWith(realOut)) {
            throw MoepruneException.inFile(target, "is the model directory or contains it; choose another output directory");
        }
        if (realOut.startsWith(model)) {
            throw MoepruneException.inFile(target, "is inside the model directory; choose a directory outside it");
        }
        boolean exists = Files.exists(out, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        if (exists && !force) throw MoepruneException.inFile(target, "already exists; use --force to replace it");
        if (exists && !Files.isDirectory(out, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw MoepruneException.inFile(target, "exists and is not a directory; refusing to replace it");
        }
        List<Path> created = new ArrayList<>();
        Path parent = out.getParent();
        try {
            for (Path p = parent; p != null && !Files.exists(p); p = p.getParent()) created.addFirst(p);
            Files.createDirectories(parent);
            Path staging = parent.resolve("." + out.getFileName() + ".moeprune-partial-" + uniqueSuffix());
            Files.createDirectory(staging);
            return new OutputDirectory(out, staging, exists, created);
        } catch (IOException e) {
            deleteParents(created);
            throw new MoepruneException(target + ": cannot create output directory: " + e, MoepruneException.FAILED, e);
        }
    }

    /**
     * Eight hex digits for a sibling's name. Not UUID.randomUUID: its SecureRandom costs a cold JVM tens of
     * milliseconds, and uniqueness is enforced anyway (createDirectory and the moves fail on an existing name).
     */
    private static String uniqueSuffix() {
        return String.format("%08x", ThreadLocalRandom.current().nextInt());
    }

    /** Resolves the existing part of a path through links, so comparisons with the model directory are honest. */
    private static Path realish(Path p) {
        Path existing = p;
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null) return p;
        try {
            return existing.toRealPath().resolve(existing.relativize(p)).normalize();
        } catch (IOException e) {
            return p;
        }
    }

    Path staging() {
        return staging;
    }

    Path target() {
        return target;
    }

    /** Moves the complete staging directory to the target (replacing an existing one only now). */
    void commit() {
        Path old = null;
        try {
            if (replace && Files.exists(target)) {
                old = target.resolveSibling("." + target.getFileName() + ".moeprune-old-" + uniqueSuffix());
                Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            }
            try {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                if (old != null) Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
                throw e;
            }
            committed = true;
            if (old != null) deleteTree(old);
        } catch (IOException e) {
            throw new MoepruneException(target + ": cannot move the finished output into place: " + e,
                    MoepruneException.FAILED, e);
        }
    }

    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running or will run; it removes the staging directory
        }
        if (!committed) removeStaging();
    }

    private void removeStaging() {
        if (committed) return;
        try {
            deleteTree(staging);
        } catch (IOException ignored) {
            // best effort on the error path; the name starts with a dot and says what it is
        }
        deleteParents(createdParents);
    }

    private static void deleteParents(List<Path> created) {
        for (int i = created.size() - 1; i >= 0; i--) {
            try {
                Files.deleteIfExists(created.get(i));
            } catch (IOException ignored) {
                return;   // not empty (someone else wrote there): leave it
            }
        }
    }

    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                if (exc != null) throw exc;
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
