package io.moeprune.model;

import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Resolves a Hugging Face hub cache folder to the model directory inside it. The hub stores a model as
 * {@code models--ORG--NAME/snapshots/HASH/} with {@code refs/main} holding the HASH of the main branch; this accepts
 * that folder, or the cache root followed by ORG/NAME (e.g. {@code ~/.cache/huggingface/hub/Qwen/Qwen3-30B-A3B}), and
 * gives the snapshot that refs/main names, or the only snapshot. Any other path is returned unchanged.
 */
public final class HfCache {
    private HfCache() {
    }

    public static Path resolve(Path path) {
        if (Files.isRegularFile(path.resolve("config.json"))) return path;
        Path repo = cacheFolder(path);
        return repo == null ? path : snapshot(repo);
    }

    /** {@code path} itself when it is a models--ORG--NAME folder, or ROOT/models--ORG--NAME for a path ROOT/ORG/NAME. */
    private static Path cacheFolder(Path path) {
        Path name = path.getFileName();
        if (name != null && name.toString().startsWith("models--") && Files.isDirectory(path.resolve("snapshots"))) {
            return path;
        }
        Path org = path.getParent(), root = org == null ? null : org.getParent();
        if (root == null || name == null || Files.exists(path)) return null;
        Path candidate = root.resolve("models--" + org.getFileName() + "--" + name);
        return Files.isDirectory(candidate.resolve("snapshots")) ? candidate : null;
    }

    private static Path snapshot(Path repo) {
        Path snapshots = repo.resolve("snapshots"), ref = repo.resolve("refs").resolve("main");
        try {
            if (Files.isRegularFile(ref)) {
                String hash = Files.readString(ref).strip();
                Path snap = snapshots.resolve(hash);
                if (hash.isEmpty() || hash.contains("/") || !Files.isDirectory(snap)) {
                    throw MoepruneException.inFile(ref, "names snapshot '" + hash + "', which is not in " + snapshots);
                }
                return snap;
            }
            List<Path> all;
            try (Stream<Path> s = Files.list(snapshots)) {
                all = s.filter(Files::isDirectory).sorted().toList();
            }
            if (all.size() == 1) return all.getFirst();
            throw MoepruneException.inFile(repo, all.isEmpty() ? "the cache folder holds no snapshot"
                    : "no refs/main and " + all.size() + " snapshots; give one of them: " + all.stream()
                    .map(p -> p.getFileName().toString()).toList());
        } catch (IOException e) {
            throw MoepruneException.inFile(repo, "cannot read the cache folder: " + e.getMessage());
        }
    }
}
