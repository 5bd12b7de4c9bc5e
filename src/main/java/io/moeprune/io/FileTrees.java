package io.moeprune.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;

/** Deleting and syncing whole trees, for staged outputs. */
public final class FileTrees {
    private FileTrees() {
    }

    /**
     * Deletes a tree (links are removed, not followed). Files that vanish meanwhile are fine: a shutdown hook and the
     * main thread may both be cleaning, or a writer may still be adding files, so a non-empty directory is retried.
     */
    public static void delete(Path root) throws IOException {
        for (int attempt = 0; ; attempt++) {
            try {
                deleteOnce(root);
                return;
            } catch (DirectoryNotEmptyException e) {
                if (attempt == 4) throw e;
            }
        }
    }

    private static void deleteOnce(Path root) throws IOException {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) return;
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.deleteIfExists(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
                if (exc instanceof NoSuchFileException) return FileVisitResult.CONTINUE;
                throw exc;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                if (exc != null && !(exc instanceof NoSuchFileException)) throw exc;
                Files.deleteIfExists(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** Deletes, ignoring failures: for error paths, where the original failure is what the user must see. */
    public static void deleteQuietly(Path root) {
        try {
            delete(root);
        } catch (IOException ignored) {
            // the name is hidden and says what it is; the next run removes it
        }
    }

    /** Removes the given directories, innermost (last) first, stopping at the first that is not empty. */
    static void deleteEmptyDirectories(List<Path> outermostFirst) {
        for (int i = outermostFirst.size() - 1; i >= 0; i--) {
            try {
                Files.deleteIfExists(outermostFirst.get(i));
            } catch (IOException notEmpty) {
                return;   // someone else wrote there: leave it and everything above it
            }
        }
    }

    /**
     * Flushes every file and directory of a tree to the disk, so that a crash after the rename that publishes it
     * cannot leave the published name pointing at files whose data never reached the disk.
     */
    static void sync(Path root) throws IOException {
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                if (attrs.isRegularFile()) syncOne(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                if (exc != null) throw exc;
                syncDirectory(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    static void syncOne(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    /** fsync of a directory (its entries); some platforms cannot open one, which only costs durability. */
    static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException notSupported) {
            // not on this platform or file system: the rename is still atomic, only not yet durable
        }
    }
}
