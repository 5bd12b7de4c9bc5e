package io.moeprune.model;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Hugging Face hub cache folders resolve to the snapshot the model lives in; anything else is left alone. */
class HfCacheTest {
    static Path snapshot(Path repo, String hash) throws IOException {
        Path s = Files.createDirectories(repo.resolve("snapshots").resolve(hash));
        Files.writeString(s.resolve("config.json"), "{}");
        return s;
    }

    @Test
    void refsMainNamesTheSnapshot(@TempDir Path hub) throws IOException {
        Path repo = hub.resolve("models--Qwen--Qwen3-30B-A3B");
        snapshot(repo, "aaa111");
        Path main = snapshot(repo, "bbb222");
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), "bbb222\n");
        assertEquals(main, HfCache.resolve(repo));
        assertEquals(main, HfCache.resolve(hub.resolve("Qwen/Qwen3-30B-A3B")), "hub root + ORG/NAME");
        assertEquals(main, HfCache.resolve(main), "a snapshot is a model directory already");
    }

    @Test
    void theOnlySnapshotWithoutRefs(@TempDir Path hub) throws IOException {
        Path repo = hub.resolve("models--org--name");
        Path only = snapshot(repo, "c0ffee");
        assertEquals(only, HfCache.resolve(repo));
    }

    @Test
    void otherPathsAreLeftAlone(@TempDir Path dir) throws IOException {
        Path plain = Files.createDirectories(dir.resolve("my-model"));
        assertEquals(plain, HfCache.resolve(plain));
        assertEquals(dir.resolve("no/such"), HfCache.resolve(dir.resolve("no/such")));
    }

    @Test
    void unresolvableCacheFoldersAreOneLineErrors(@TempDir Path hub) throws IOException {
        Path repo = hub.resolve("models--org--name");
        Files.createDirectories(repo.resolve("snapshots"));
        var empty = assertThrows(MoepruneException.class, () -> HfCache.resolve(repo));
        assertEquals(repo + ": the cache folder holds no snapshot", empty.getMessage());

        snapshot(repo, "aaa");
        snapshot(repo, "bbb");
        var two = assertThrows(MoepruneException.class, () -> HfCache.resolve(repo));
        assertEquals(repo + ": no refs/main and 2 snapshots; give one of them: [aaa, bbb]", two.getMessage());

        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), "ccc");
        var stale = assertThrows(MoepruneException.class, () -> HfCache.resolve(repo));
        assertEquals(repo.resolve("refs/main") + ": names snapshot 'ccc', which is not in " + repo.resolve("snapshots"),
                stale.getMessage());
    }
}
