package io.moeprune.io;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * A Linux read lease on a file ({@code fcntl(fd, F_SETLEASE, F_RDLCK)} through FFM), so that another process cannot
 * truncate or write the file under a memory mapping unnoticed: its {@code truncate(2)} or {@code open} for writing is
 * held by the kernel (up to {@code /proc/sys/fs/lease-break-time}, 45 s by default; a non-blocking open fails with
 * EAGAIN instead) while this process is sent SIGIO. The signal only raises a flag ({@link #breakNoticed()}, a
 * volatile read), so the holder can stop at its next safe point, before it reads a page that would no longer exist,
 * and release the lease by closing it (or exiting): then the other process goes ahead.
 *
 * <p>Leases need the file owner's uid or CAP_LEASE, a file nobody has open for writing, and a file system that
 * supports them; {@link #tryTake} returns empty whenever the kernel (or the platform, or the JVM's signal handling)
 * refuses, and the caller falls back to whatever checks it had without one.
 */
public final class FileLease implements AutoCloseable {
    /** {@code -Dmoeprune.fileLeases=false} takes no leases (tests of the fallback; a file system that misbehaves). */
    public static final String ENABLED_PROPERTY = "moeprune.fileLeases";
    private static final int O_RDONLY = 0, O_CLOEXEC = 0x80000;
    private static final int F_SETLEASE = 1024, F_GETLEASE = 1025, F_RDLCK = 0, F_UNLCK = 2;
    private static final MethodHandle OPEN, FCNTL, CLOSE;
    /** Whether SIGIO is ours: without a handler the signal's default action would kill the JVM. */
    private static final boolean SIGNAL_HANDLED;
    private static volatile boolean breakNoticed;

    static {
        MethodHandle open = null, fcntl = null, close = null;
        boolean handled = false;
        if (System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")
                && !"false".equals(System.getProperty(ENABLED_PROPERTY))) {
            try {
                Linker linker = Linker.nativeLinker();
                var libc = linker.defaultLookup();
                open = linker.downcallHandle(libc.find("open").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), Linker.Option.firstVariadicArg(2));
                // fcntl is variadic: the third argument is passed as a variadic int.
                fcntl = linker.downcallHandle(libc.find("fcntl").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
                        Linker.Option.firstVariadicArg(2));
                close = linker.downcallHandle(libc.find("close").orElseThrow(),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
                // The JVM lets applications handle SIGIO (it uses SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGQUIT and SIGUSR2
                // itself); the handler runs on a Java thread and only raises the flag.
                sun.misc.Signal.handle(new sun.misc.Signal("IO"), s -> breakNoticed = true);
                handled = true;
            } catch (RuntimeException | LinkageError e) {
                handled = false;   // no libc or no SIGIO handler: no leases, the callers' other checks remain
            }
        }
        OPEN = open;
        FCNTL = fcntl;
        CLOSE = close;
        SIGNAL_HANDLED = handled;
    }

    private final Path path;
    private int fd;

    private FileLease(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /**
     * A read lease on {@code path} through a descriptor of its own (opened read-only; the caller's mappings and
     * channels stay as they are), or empty where leases are not available for it.
     */
    public static Optional<FileLease> tryTake(Path path) {
        if (!SIGNAL_HANDLED) return Optional.empty();
        try (Arena arena = Arena.ofConfined()) {
            int fd = (int) OPEN.invokeExact(arena.allocateFrom(path.toString()), O_RDONLY | O_CLOEXEC);
            if (fd < 0) return Optional.empty();
            if ((int) FCNTL.invokeExact(fd, F_SETLEASE, F_RDLCK) != 0) {
                // EACCES (not the owner, no CAP_LEASE), EAGAIN (open for writing somewhere), EINVAL (file system)
                int ignored = (int) CLOSE.invokeExact(fd);
                return Optional.empty();
            }
            return Optional.of(new FileLease(path, fd));
        } catch (Throwable e) {
            return Optional.empty();
        }
    }

    /**
     * Whether a lease break signal has arrived since this JVM started (some process began truncating or writing a
     * leased file). One volatile read: cheap enough for every layer; {@link #breaking()} then says which file.
     */
    public static boolean breakNoticed() {
        return breakNoticed;
    }

    /**
     * Whether this lease is being broken: while a break is pending the kernel reports the downgraded type
     * (F_UNLCK for a read lease), and once it forced the break after the timeout, no lease at all.
     */
    public synchronized boolean breaking() {
        if (fd < 0) return false;
        try {
            return (int) FCNTL.invokeExact(fd, F_GETLEASE, 0) != F_RDLCK;
        } catch (Throwable e) {
            return true;
        }
    }

    public Path path() {
        return path;
    }

    /** Releases the lease (closing its descriptor ends it): a process held by it goes ahead. */
    @Override
    public synchronized void close() {
        if (fd < 0) return;
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable e) {
            // the descriptor is gone either way; exiting releases the lease too
        }
        fd = -1;
    }

    /** Whether this JVM can take leases at all (Linux, libc found, SIGIO handled, not turned off). */
    public static boolean supported() {
        return SIGNAL_HANDLED;
    }
}
