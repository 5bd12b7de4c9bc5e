package io.moeprune.gpu;

import io.moeprune.gpu.cuda.Nvrtc;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * CUDA C++ kernels compiled by NVRTC for one device's architecture and loaded into its context. The CUBIN is kept
 * in a cache folder keyed by the source, the options and the compiler's version, so a run compiles only what changed
 * ({@code -Dmoeprune.cudaCache=DIR}; default {@code $XDG_CACHE_HOME/moeprune/cuda} or {@code ~/.cache/moeprune/cuda};
 * a cache that cannot be written is skipped).
 */
public final class KernelModule {
    private final GpuDevice device;
    private final String name;
    private final long module;
    private final Map<String, Kernel> kernels = new ConcurrentHashMap<>();

    private KernelModule(GpuDevice device, String name, long module) {
        this.device = device;
        this.name = name;
        this.module = module;
    }

    static KernelModule load(GpuDevice device, Nvrtc nvrtc, String name, String source) {
        List<String> options = options(device.info());
        String key = sha256(nvrtc.version() + "\n" + String.join(" ", options) + "\n" + source);
        Path cached = cacheFolder().resolve(name.replaceAll("[^A-Za-z0-9_.-]", "_") + "-" + key.substring(0, 24) + ".cubin");
        byte[] cubin = null;
        try {
            if (Files.isRegularFile(cached)) cubin = Files.readAllBytes(cached);
        } catch (IOException ignored) {
            // compile again
        }
        if (cubin == null) {
            cubin = nvrtc.compileToCubin(name, source, options);
            store(cached, cubin);
        }
        return new KernelModule(device, name, device.driver().loadModule(cubin));
    }

    /** NVRTC options: the device's own architecture, C++17, and no fast-math (the CPU runtime is the reference). */
    static List<String> options(GpuInfo info) {
        return List.of("--gpu-architecture=" + info.architecture(), "--std=c++17", "-lineinfo");
    }

    static Path cacheFolder() {
        String forced = System.getProperty("moeprune.cudaCache");
        if (forced != null) return Path.of(forced);
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("moeprune").resolve("cuda");
    }

    private static void store(Path file, byte[] cubin) {
        try {
            Files.createDirectories(file.getParent());
            Path tmp = Files.createTempFile(file.getParent(), ".cubin", ".tmp");
            Files.write(tmp, cubin);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | UnsupportedOperationException ignored) {
            // a read-only home: compile each run
        }
    }

    static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The kernel {@code function} of this module ({@code extern "C"} name). */
    public Kernel kernel(String function) {
        return kernels.computeIfAbsent(function, f -> new Kernel(device, name + "." + f, device.driver().function(module, f)));
    }

    void unload() {
        device.driver().unloadModule(module);
    }
}
