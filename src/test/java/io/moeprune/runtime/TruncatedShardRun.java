package io.moeprune.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.model.ConfigReader;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Child-JVM entry point of {@link TruncatedShardTest} (a SIGBUS must not be able to kill the test JVM). Prints the
 * number of shard leases, then in mode {@code self} scores a document, truncates SHARD to half its size as another
 * process would, and scores again; in mode {@code loop} it scores documents for up to 60 s (printing "running"
 * after the first) while the test truncates SHARD from outside. Errors are printed as the command line prints them.
 */
public final class TruncatedShardRun {
    private TruncatedShardRun() {
    }

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        Path shard = dir.resolve(args[1]);
        boolean loop = args.length > 2 && args[2].equals("loop");
        int[] ids = {1, 5, 9, 2, 7, 3, 11, 4, 6, 8, 10, 12, 1, 5, 9, 2};
        try (Model m = Model.load(dir, ConfigReader.read(dir))) {
            System.out.println("leases: " + m.shardLeases());
            Perplexity p = new Perplexity(m, null);
            System.out.println("first document: " + p.score(ids).nll());
            if (loop) {
                System.out.println("running");
                long end = System.nanoTime() + 60_000_000_000L;
                while (System.nanoTime() < end) p.score(ids);
            } else {
                try (FileChannel ch = FileChannel.open(shard, StandardOpenOption.WRITE)) {
                    ch.truncate(ch.size() / 2);
                }
            }
            System.out.println("second document: " + p.score(ids).nll());
        } catch (MoepruneException e) {
            System.err.println("moeprune: error: " + e.getMessage());
            System.exit(e.exitCode());
        }
    }
}
