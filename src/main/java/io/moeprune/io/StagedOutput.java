package io.moeprune.io;

import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * An output (a directory or one file) that appears complete or not at all, whatever happens to the run: the one
 * mechanism behind every command that writes one (prune, report, quickstart, select, calibrate).
 *
 * <p>Everything is written into a hidden sibling directory named by {@link StagingName} (with this process's PID)
 * and moved into place by {@link #commit()}. An existing output is replaced only with {@code force}: it is moved
 * aside, the new one moved in, and only then the old one deleted; if moving in fails the old one is moved back. A
 * file is replaced by one atomic rename. Files and directories are fsynced before the rename.
 *
 * <p>A shutdown hook (SIGTERM, SIGINT) and {@link #close()} without a commit remove the staging directory and the
 * parent directories this run created. The hook and the commit exclude each other through one state: once the commit's
 * renames have started the hook waits for them to end (they take microseconds) and then leaves the result alone; once
 * the hook has started cleaning, the commit refuses to rename. A run killed outright (kill -9) leaves its hidden
 * siblings behind; the next run for the same output finds and removes them, or restores a moved-aside old output
 * ({@link Leftovers}), and says so on standard error.
 */
public final class StagedOutput implements AutoCloseable {
    public enum Kind { DIRECTORY, FILE }

    private enum State { WRITING, COMMITTING, DONE, ABANDONED }

    /** How long the hook waits for renames in progress (they take microseconds; this only bounds a hung file system). */
    private static final long HOOK_WAIT_MILLIS = 30_000;

    private static volatile boolean interrupted;

    private final Path given;
    private final Path target;
    private final Kind kind;
    private final boolean force;
    private final boolean existed;
    private final Path stagingDir;
    private final List<Path> createdParents;
    private final List<String> notes;
    private final Thread hook;
    private final Object lock = new Object();
    private State state = State.WRITING;
    /** What a finished commit still has to delete (the moved-aside old output); the hook finishes it on a signal. */
    private volatile Path leftAfterCommit;
    private volatile boolean stagingMade;   // false: the name was someone else's (never delete that)

    private StagedOutput(Path given, Path target, Kind kind, boolean force, boolean existed, Path stagingDir,
                         List<Path> createdParents, List<String> notes) {
        this.given = given;
        this.target = target;
        this.kind = kind;
        this.force = force;
        this.existed = existed;
        this.stagingDir = stagingDir;
        this.createdParents = createdParents;
        this.notes = List.copyOf(notes);
        this.hook = new Thread(this::onSignal, "moeprune-staged-output-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /**
     * A directory output. An existing directory needs {@code force} unless it is empty; anything else in its place
     * is refused.
     */
    public static StagedOutput directory(Path target, boolean force) {
        return prepare(target, Kind.DIRECTORY, force);
    }

    /** A one-file output; write it at {@link #staging()}. An existing file is replaced only with {@code force}. */
    public static StagedOutput file(Path target, boolean force) {
        return prepare(target, Kind.FILE, force);
    }

    /** Writes a small text file all-or-nothing, replacing an existing one; errors are one line naming the file. */
    public static void writeString(Path file, String text) {
        try (StagedOutput staged = file(file, true)) {
            Files.writeString(staged.staging(), text);
            staged.commit();
        } catch (IOException e) {
            throw new MoepruneException(file + ": cannot write: " + IoErrors.reason(e), MoepruneException.FAILED, e);
        }
    }

    /** Whether a signal's shutdown abandoned an output (the main thread's errors are then consequences, not news). */
    public static boolean interruptedBySignal() {
        return interrupted;
    }

    private static StagedOutput prepare(Path given, Kind kind, boolean force) {
        Path target = given.toAbsolutePath().normalize();
        Path parent = target.getParent();
        if (parent == null) throw MoepruneException.inFile(given, "is the root directory; choose another output");
        // Shutting down after a signal: an output nested in one the hook removed must not bring its parent back.
        if (interrupted) throw new MoepruneException(given + ": interrupted; not written", MoepruneException.FAILED, null);
        List<String> notes = new ArrayList<>();
        int adopted = Leftovers.sweep(parent, target, notes);
        notes.forEach(n -> System.err.println("moeprune: " + n));
        boolean existed = Files.exists(target, LinkOption.NOFOLLOW_LINKS);
        if (existed) refuseToReplace(given, target, kind, force);

        // Ancestors a killed run created for this same output count as ours: they go if this run fails too.
        int missing = 0;
        for (Path p = parent; p != null && !Files.exists(p); p = p.getParent()) missing++;
        List<Path> created = new ArrayList<>();
        Path ancestor = parent;
        for (int i = 0; i < Math.max(adopted, missing) && ancestor != null; i++, ancestor = ancestor.getParent()) {
            created.addFirst(ancestor);
        }
        StagingName name = StagingName.fresh(target.getFileName().toString(), StagingName.Role.STAGING, created.size());
        // The hook is registered (in the constructor) before anything is created: a signal in between leaves nothing.
        StagedOutput staged = new StagedOutput(given, target, kind, force, existed, parent.resolve(name.toString()),
                created, notes);
        try {
            Files.createDirectories(parent);
            Files.createDirectory(staged.stagingDir);
            staged.stagingMade = true;
            return staged;
        } catch (IOException e) {
            staged.close();
            throw new MoepruneException(given + ": cannot create the output: " + IoErrors.reason(e),
                    MoepruneException.FAILED, e);
        }
    }

    private static void refuseToReplace(Path given, Path target, Kind kind, boolean force) {
        boolean dir = Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS);
        if (kind == Kind.DIRECTORY && !dir) {
            throw MoepruneException.inFile(given, "exists and is not a directory; refusing to replace it");
        }
        if (kind == Kind.FILE && !Files.isRegularFile(target)) {   // a link to a file is replaced by the file, as before
            throw MoepruneException.inFile(given, "exists and is not a regular file; refusing to replace it");
        }
        if (!force && !(dir && isEmptyDirectory(target))) {
            throw MoepruneException.inFile(given, "already exists; use --force to replace it");
        }
    }

    /** Where to write: the staging directory, or for a file output the file inside it. */
    public Path staging() {
        return kind == Kind.DIRECTORY ? stagingDir : stagingDir.resolve(target.getFileName());
    }

    /** The staging directory (also for a file output, for writers that write a directory). */
    public Path stagingDirectory() {
        return stagingDir;
    }

    /** The output's absolute, normalised path. */
    public Path target() {
        return target;
    }

    /** What was found and done about earlier runs' leftovers, one line each (also printed on standard error). */
    public List<String> notes() {
        return notes;
    }

    /**
     * An error that names a file inside the staging directory (a writer's temporary shard, say), said about the output
     * the user named instead: the staged file is gone by the time anyone reads the message.
     */
    public MoepruneException aboutOutput(MoepruneException e) {
        String m = e.getMessage();
        String staged = stagingDir.toString();
        int colon = m == null || !m.startsWith(staged) ? -1 : m.indexOf(": ", staged.length());
        return colon < 0 ? e : new MoepruneException(given + m.substring(colon), e.exitCode(), e);
    }

    /** Moves the complete output into place. After a failure here the old output (if any) is still in place. */
    public void commit() {
        try {
            refuseIfAbandoned();
            if (kind == Kind.DIRECTORY) FileTrees.sync(stagingDir);   // before COMMITTING: a signal may still abandon it
            else FileTrees.syncOne(staging());
        } catch (IOException e) {
            refuseIfAbandoned();   // the hook deleted what was being synced
            throw failure("cannot write", e);
        }
        synchronized (lock) {
            refuseIfAbandoned();
            if (state != State.WRITING) throw new IllegalStateException("commit() twice");
            state = State.COMMITTING;
        }
        Path old = null;
        boolean done = false;
        try {
            if (kind == Kind.FILE) {
                if (!force && Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                    throw MoepruneException.inFile(given, "was created by someone else meanwhile; use --force to replace it");
                }
                Files.move(staging(), target, StandardCopyOption.ATOMIC_MOVE);
            } else {
                if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                    if (!force && !isEmptyDirectory(target)) {
                        throw MoepruneException.inFile(given, "was created by someone else meanwhile; use --force to replace it");
                    }
                    old = target.resolveSibling(StagingName.fresh(target.getFileName().toString(),
                            StagingName.Role.OLD, 0).toString());
                    Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
                }
                moveIn(old);
            }
            FileTrees.syncDirectory(target.getParent());
            done = true;
        } catch (IOException e) {
            throw failure("cannot move the finished output into place", e);
        } finally {
            synchronized (lock) {
                if (done) leftAfterCommit = old;
                state = done ? State.DONE : State.WRITING;   // WRITING again: close() removes the staging directory
                lock.notifyAll();
            }
        }
        // The hook stays registered until the old output is gone: a signal meanwhile finishes the deletion there.
        if (old != null) FileTrees.deleteQuietly(old);
        leftAfterCommit = null;
        removeHook();
        if (kind == Kind.FILE) FileTrees.deleteQuietly(stagingDir);
    }

    private void refuseIfAbandoned() {
        synchronized (lock) {
            if (state == State.ABANDONED) {
                throw new MoepruneException(given + ": interrupted; not written", MoepruneException.FAILED, null);
            }
        }
    }

    /** Moves the staging directory to the target; on failure puts the moved-aside old output back. */
    private void moveIn(Path old) throws IOException {
        try {
            Files.move(stagingDir, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            if (old != null) {
                try {
                    Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException restore) {
                    e.addSuppressed(restore);   // left as a hidden sibling; the next run restores it
                }
            }
            throw e;
        }
    }

    private MoepruneException failure(String what, IOException e) {
        return new MoepruneException(given + ": " + what + ": " + IoErrors.reason(e), MoepruneException.FAILED, e);
    }

    /** Without a commit: removes the staging directory and the parent directories this run created. */
    @Override
    public void close() {
        removeHook();
        if (claimForCleanup()) cleanUp();
    }

    private void removeHook() {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs or has run; claimForCleanup() lets only one of us clean
        }
    }

    /** The shutdown hook (SIGTERM, SIGINT): unless the output is committed or being committed, abandon it. */
    private void onSignal() {
        if (!claimForCleanup()) {
            // Committed: the JVM halts once the hooks end, so the old output the commit was deleting is deleted here.
            Path old = leftAfterCommit;
            if (old != null) FileTrees.deleteQuietly(old);
            return;
        }
        interrupted = true;   // before cleaning: nested outputs must not re-create what is being removed
        System.err.println("moeprune: interrupted; " + given + (existed ? " left as it was" : " not written"));
        cleanUp();
    }

    /** The hook's side of the exclusion without the process-wide flag and message, for tests. */
    void abandonAsOnSignal() {
        if (claimForCleanup()) cleanUp();
    }

    /**
     * Moves WRITING to ABANDONED: true if the caller is now the one to clean. Waits for renames in progress; after
     * them there is nothing to clean (committed) or the commit failed and cleaning is due.
     */
    private boolean claimForCleanup() {
        synchronized (lock) {
            long deadline = System.currentTimeMillis() + HOOK_WAIT_MILLIS;
            while (state == State.COMMITTING && System.currentTimeMillis() < deadline) {
                try {
                    lock.wait(Math.max(1, deadline - System.currentTimeMillis()));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            if (state != State.WRITING) return false;
            state = State.ABANDONED;
            return true;
        }
    }

    private void cleanUp() {
        if (stagingMade) FileTrees.deleteQuietly(stagingDir);
        FileTrees.deleteEmptyDirectories(createdParents);
    }

    private static boolean isEmptyDirectory(Path p) {
        if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) return false;
        try (Stream<Path> s = Files.list(p)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }
}
