package io.moeprune.io;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Read leases on files this user owns; a file open for writing gets none (the caller falls back). */
class FileLeaseTest {
    @TempDir
    Path tmp;

    @Test
    void aFileWeOwnGetsALeaseThatIsNotBreaking() throws Exception {
        Assumptions.assumeTrue(FileLease.supported(), "file leases are Linux only");
        Path f = Files.write(tmp.resolve("shard"), new byte[4096]);
        Optional<FileLease> lease = FileLease.tryTake(f);
        Assumptions.assumeTrue(lease.isPresent(), "the file system of " + tmp + " grants no leases");
        try (FileLease l = lease.get()) {
            assertEquals(f, l.path());
            assertFalse(l.breaking());
        }
        assertFalse(lease.get().breaking(), "a released lease is not breaking");
    }

    @Test
    void aFileOpenForWritingGetsNone() throws Exception {
        Path f = Files.write(tmp.resolve("shard"), new byte[4096]);
        try (FileChannel writer = FileChannel.open(f, StandardOpenOption.WRITE)) {
            assertTrue(FileLease.tryTake(f).isEmpty());
        }
    }

    @Test
    void aMissingFileGetsNone() {
        assertTrue(FileLease.tryTake(tmp.resolve("absent")).isEmpty());
    }
}
