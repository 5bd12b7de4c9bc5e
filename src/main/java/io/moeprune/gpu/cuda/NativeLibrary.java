package io.moeprune.gpu.cuda;

import io.moeprune.MoepruneException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * One CUDA shared library opened through FFM ({@code dlopen}): found by its sonames, first where the dynamic loader
 * looks ({@code LD_LIBRARY_PATH}, the ld.so cache), then in the folders CUDA installs and Python wheels use. No JNI and
 * no native build step: the jar runs wherever the NVIDIA driver and the CUDA 13 libraries are.
 *
 * <p>{@code MOEPRUNE_CUDA_LIBS} (folders separated by ':') is searched first, for installations elsewhere.
 */
public final class NativeLibrary {
    private static final Linker LINKER = Linker.nativeLinker();

    private final String name;
    private final SymbolLookup lookup;
    private final String location;

    private NativeLibrary(String name, SymbolLookup lookup, String location) {
        this.name = name;
        this.lookup = lookup;
        this.location = location;
    }

    /**
     * Opens the first of {@code sonames} that loads. {@code what} names the library for the one-line error when none
     * does ("the CUDA runtime (libcudart)"), which lists where it looked.
     */
    public static NativeLibrary open(String what, List<String> sonames) {
        List<String> tried = new ArrayList<>();
        for (Path dir : searchFolders()) {
            for (String soname : sonames) {
                Path file = dir.resolve(soname);
                if (!Files.isRegularFile(file)) continue;
                Optional<SymbolLookup> lookup = tryOpen(file.toString());
                if (lookup.isPresent()) return new NativeLibrary(soname, lookup.get(), file.toString());
                tried.add(file.toString());
            }
        }
        for (String soname : sonames) {
            Optional<SymbolLookup> lookup = tryOpen(soname);
            if (lookup.isPresent()) return new NativeLibrary(soname, lookup.get(), soname + " (dynamic loader)");
        }
        throw new MoepruneException("--device cuda: " + what + " was not found (no " + String.join(" or ", sonames)
                + " in LD_LIBRARY_PATH, the ld.so cache, MOEPRUNE_CUDA_LIBS or the usual CUDA folders"
                + (tried.isEmpty() ? ")" : "; found but not loadable: " + String.join(", ", tried) + ")"));
    }

    /** Opens a companion library by file name from the folder {@code beside} was found in, when there (cuBLAS needs
     * cuBLASLt, NVRTC its builtins; loading them first lets the loader resolve them without LD_LIBRARY_PATH). */
    public static void preloadBeside(NativeLibrary beside, String filePrefix) {
        Path dir = Path.of(beside.location).getParent();
        if (dir == null || !Files.isDirectory(dir)) return;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, filePrefix + "*")) {
            for (Path f : files) {
                if (f.getFileName().toString().contains(".so") && tryOpen(f.toString()).isPresent()) return;
            }
        } catch (IOException ignored) {
            // best effort: the loader may still find it on its own
        }
    }

    private static Optional<SymbolLookup> tryOpen(String nameOrPath) {
        try {
            return Optional.of(SymbolLookup.libraryLookup(nameOrPath, Arena.global()));
        } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
            return Optional.empty();
        }
    }

    /** {@code MOEPRUNE_CUDA_LIBS}, then the usual CUDA folders. */
    static List<Path> searchFolders() {
        Set<Path> dirs = new LinkedHashSet<>();
        String extra = System.getenv("MOEPRUNE_CUDA_LIBS");
        if (extra != null) for (String d : extra.split(":")) if (!d.isBlank()) dirs.add(Path.of(d));
        dirs.addAll(defaultFolders());
        return dirs.stream().filter(Files::isDirectory).toList();
    }

    private static List<Path> defaultFolders() {
        List<Path> dirs = new ArrayList<>();
        String home = System.getenv("CUDA_HOME");
        if (home == null) home = System.getenv("CUDA_PATH");
        if (home != null) {
            dirs.add(Path.of(home, "lib64"));
            dirs.add(Path.of(home, "lib"));
        }
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        dirs.add(Path.of("/usr/local/cuda/lib"));
        dirs.add(Path.of("/usr/local/cuda/targets/x86_64-linux/lib"));
        dirs.addAll(glob(Path.of("/usr/local"), "cuda-1*", "lib64", "lib", "targets/x86_64-linux/lib"));
        dirs.add(Path.of("/usr/local/nvidia/lib64"));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        // pip's nvidia-* wheels (PyTorch's CUDA): site-packages/nvidia/<part>/lib
        for (Path site : sitePackages()) dirs.addAll(glob(site.resolve("nvidia"), "*", "lib"));
        return dirs;
    }

    private static List<Path> sitePackages() {
        List<Path> sites = new ArrayList<>();
        for (Path root : List.of(Path.of("/opt"), Path.of("/usr/local/lib"), Path.of("/usr/lib"))) {
            if (!Files.isDirectory(root)) continue;
            try (Stream<Path> found = Files.find(root, 6, (p, a) -> a.isDirectory()
                    && (p.endsWith("site-packages") || p.endsWith("dist-packages")))) {
                found.limit(16).forEach(sites::add);
            } catch (IOException | java.io.UncheckedIOException ignored) {
                // unreadable folders are skipped
            }
        }
        return sites;
    }

    private static List<Path> glob(Path dir, String pattern, String... subdirs) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, pattern)) {
            for (Path e : entries) for (String s : subdirs) out.add(e.resolve(s));
        } catch (IOException ignored) {
            // nothing there
        }
        return out;
    }

    /** A downcall to {@code symbol}; an error naming the library when it lacks it. */
    public MethodHandle function(String symbol, FunctionDescriptor descriptor) {
        return optionalFunction(symbol, descriptor).orElseThrow(() -> new MoepruneException(
                "--device cuda: " + location + " has no function " + symbol + " (a CUDA older than 13?)"));
    }

    /** A downcall to {@code symbol}, or empty when this version of the library lacks it. */
    public Optional<MethodHandle> optionalFunction(String symbol, FunctionDescriptor descriptor) {
        return lookup.find(symbol).map(address -> LINKER.downcallHandle(address, descriptor));
    }

    public String name() {
        return name;
    }

    /** The file it was loaded from, or the soname when the dynamic loader found it. */
    public String location() {
        return location;
    }
}
