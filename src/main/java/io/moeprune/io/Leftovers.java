package io.moeprune.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.Stream;

/**
 * Finds what earlier runs writing the same output left beside it ({@link StagingName}s) and deals with each: a live
 * owner's is left alone; a dead owner's staging is removed; a dead owner's moved-aside old output is put back when
 * the output itself is missing (the run died between moving the old one aside and moving the new one in), else
 * removed. Every action is one line in {@code notes}.
 */
final class Leftovers {
    private Leftovers() {
    }

    /** @return how many ancestors of {@code parent} (counted from it) the removed runs had created */
    static int sweep(Path parent, Path target, List<String> notes) {
        if (!Files.isDirectory(parent)) return 0;
        String name = target.getFileName().toString();
        List<Path> candidates;
        try (Stream<Path> s = Files.list(parent)) {
            candidates = s.filter(p -> p.getFileName().toString().startsWith("." + name + ".moeprune-")).sorted().toList();
        } catch (IOException unreadable) {
            return 0;   // creating the staging directory there fails next, with the reason
        }
        int adopted = 0;
        for (Path p : candidates) {
            StagingName left = StagingName.parse(p, name).orElse(null);
            if (left == null) continue;
            if (left.ownerAlive()) {
                notes.add(p + " belongs to running process " + left.pid() + " (a concurrent run?); left alone");
                continue;
            }
            try {
                if (left.role() == StagingName.Role.OLD && !Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                    Files.move(p, target, StandardCopyOption.ATOMIC_MOVE);
                    notes.add("restored " + target + ", which interrupted process " + left.pid() + " had moved aside");
                    continue;
                }
                FileTrees.delete(p);
                notes.add("removed " + p + ", left by interrupted process " + left.pid());
                adopted = Math.max(adopted, left.createdParents());
            } catch (IOException e) {
                notes.add("cannot remove " + p + ", left by interrupted process " + left.pid() + ": " + IoErrors.reason(e));
            }
        }
        return adopted;
    }
}
