package io.moeprune.gpu;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.cuda.Cublas;
import io.moeprune.gpu.cuda.CudaDriver;
import io.moeprune.gpu.cuda.Cudart;
import io.moeprune.gpu.cuda.Nvrtc;
import io.moeprune.prune.ByteSize;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * One CUDA device opened for a run: its primary context, a compute stream, a copy stream (so the copy of layer
 * L+1's weights overlaps layer L's compute) and a download stream (the observers' device→host copies, so they overlap
 * the next kernels instead of holding them up, and never queue in front of a streamed layer's upload), a cuBLAS handle,
 * the kernels compiled for it, and every byte of device and pinned host memory the backend holds, bounded by
 * {@code --gpu-memory}. Closing it frees everything.
 *
 * <p>Memory is cached ({@link BufferCache}): a freed device buffer or released pinned buffer is kept for a later
 * request of about its size, so a second run in one process allocates nothing new. Cached device bytes count against
 * {@code --gpu-memory} (a request that would pass it releases cached buffers first); {@link #allocatedBytes} is the
 * bytes in use, the cache excluded, which is what a run plans around. Pinned memory kept for reuse is capped at
 * {@code -Dmoeprune.pinnedCacheBytes} (default 8 GiB). A cudaFree synchronised the device, so a buffer could be freed
 * while queued work still used it; a cached buffer handed out again is safe the same way: the first reuse after a
 * free waits for every stream ({@link #synchronize}), since its next user may be on another stream or the host.
 *
 * <p>Use from one thread at a time; {@link #bind} makes the device current on a thread that has not used it yet.
 */
public final class GpuDevice implements AutoCloseable {
    /** What cuBLAS may use as workspace (allocated by us, inside the bound). */
    private static final long BLAS_WORKSPACE = 32L << 20;

    private final Cudart rt;
    private final CudaDriver driver;
    private final Nvrtc nvrtc;
    private final Cublas cublas;
    private final GpuInfo info;
    private final long context;
    private final long stream;
    private final long copyStream;
    private final long downloadStream;
    private final long blas;
    private final long limit;
    /** The most pinned host bytes kept for reuse once released. */
    private static final long PINNED_CACHE = Long.getLong("moeprune.pinnedCacheBytes", 8L << 30);

    private final BufferCache memory;
    private final BufferCache pinnedMemory;
    private final Map<Long, MemorySegment> pinned = new HashMap<>();
    private final Map<String, KernelModule> modules = new HashMap<>();
    /** A buffer went back to a cache since every stream last drained: reusing one waits for them first. */
    private boolean freedSinceSync;
    private Thread boundTo;

    private GpuDevice(DeviceChoice choice, long gpuMemory) {
        this.info = CudaLibrariesProbe.device(choice);
        this.rt = Cudart.load();
        this.driver = CudaDriver.load();
        this.nvrtc = Nvrtc.load();
        this.cublas = Cublas.load();
        rt.setDevice(info.ordinal());
        this.context = driver.primaryContext(info.ordinal());
        driver.setCurrent(context);
        this.boundTo = Thread.currentThread();
        long usable = (long) (info.freeBytes() * 0.95);
        if (gpuMemory > usable) {
            throw new MoepruneException("--gpu-memory " + ByteSize.format(gpuMemory) + ": " + info.name() + " has only "
                    + ByteSize.format(info.freeBytes()) + " free");
        }
        this.limit = gpuMemory > 0 ? gpuMemory : usable;
        this.memory = new BufferCache(rt::malloc, rt::free, limit, Long.MAX_VALUE);
        this.pinnedMemory = new BufferCache(bytes -> {
            MemorySegment s = rt.mallocHost(bytes);
            pinned.put(s.address(), s);
            return s.address();
        }, address -> rt.freeHost(pinned.remove(address)), Long.MAX_VALUE, PINNED_CACHE);
        this.stream = rt.streamCreate();
        this.copyStream = rt.streamCreate();
        this.downloadStream = rt.streamCreate();
        this.blas = cublas.create(stream);
        cublas.workspace(blas, alloc(BLAS_WORKSPACE, "the cuBLAS workspace").address(), BLAS_WORKSPACE);
    }

    /**
     * Opens the device {@code choice} names, using at most {@code gpuMemory} bytes of it (0: 95 % of what is free).
     * A one-line error (exit 2) names what is missing when CUDA cannot run here.
     */
    public static GpuDevice open(DeviceChoice choice, long gpuMemory) {
        if (!choice.isCuda()) throw new IllegalArgumentException("not a CUDA device: " + choice);
        return new GpuDevice(choice, gpuMemory);
    }

    /** Makes this device current on the calling thread (CUDA contexts are per thread). */
    public void bind() {
        if (boundTo == Thread.currentThread()) return;
        rt.setDevice(info.ordinal());
        driver.setCurrent(context);
        boundTo = Thread.currentThread();
    }

    public GpuInfo info() {
        return info;
    }

    public Cudart runtime() {
        return rt;
    }

    public CudaDriver driver() {
        return driver;
    }

    public Cublas cublas() {
        return cublas;
    }

    /** The cuBLAS handle, bound to {@link #stream}. */
    public long blas() {
        return blas;
    }

    /** The stream kernels and products run on. */
    public long stream() {
        return stream;
    }

    /** The stream host→device weight copies run on, beside {@link #stream}. */
    public long copyStream() {
        return copyStream;
    }

    /**
     * The stream the observers' device→host copies run on, beside {@link #stream} (ordered against it by events) and
     * apart from {@link #copyStream}: a streamed model's weight uploads must not wait behind them.
     */
    public long downloadStream() {
        return downloadStream;
    }

    /**
     * Device memory for {@code what} (named in the error when the bound is exceeded: the user learns which
     * {@code --gpu-memory} would do).
     */
    public synchronized DeviceBuffer alloc(long bytes, String what) {
        if (bytes <= 0) throw new IllegalArgumentException("bytes " + bytes);
        long rounded = (bytes + 255) & ~255L;
        if (memory.cachedFits(rounded)) drainBeforeReuse();
        Long address = memory.take(rounded);
        if (address == null) throw boundExceeded(limit, what, rounded, memory.inUse());
        return new DeviceBuffer(address, bytes);
    }

    /** The one-line error (exit 2) when {@code what} does not fit in the {@code --gpu-memory} bound. */
    public static MoepruneException boundExceeded(long limit, String what, long bytes, long inUse) {
        return new MoepruneException("--gpu-memory " + ByteSize.format(limit) + " is too small: " + what + " needs "
                + ByteSize.format(bytes) + " more with " + ByteSize.format(inUse) + " in use");
    }

    public synchronized void free(DeviceBuffer buffer) {
        if (buffer == null) return;
        memory.give(buffer.address());
        freedSinceSync = true;
    }

    private void drainBeforeReuse() {
        if (freedSinceSync) synchronize();
    }

    /** Bytes of device memory in use now (the cache excluded), and the most in use at once. */
    public synchronized long allocatedBytes() {
        return memory.inUse();
    }

    public synchronized long peakBytes() {
        return memory.peak();
    }

    /** Device bytes kept for reuse: allocated from CUDA, in use by nothing, counted against the bound. */
    public synchronized long cachedBytes() {
        return memory.cachedBytes();
    }

    /** cudaMalloc calls so far (a run served from the cache adds none). */
    public synchronized long deviceAllocations() {
        return memory.allocations();
    }

    /** The bound on device memory this run allocates. */
    public long limitBytes() {
        return limit;
    }

    /**
     * Page-locked host memory (staging for asynchronous copies): a released buffer of about this size, or new; freed
     * with the device at the latest.
     */
    public synchronized MemorySegment pinned(long bytes) {
        long rounded = (Math.max(1, bytes) + 255) & ~255L;
        if (pinnedMemory.cachedFits(rounded)) drainBeforeReuse();
        return pinned.get(pinnedMemory.take(rounded)).asSlice(0, bytes);
    }

    /** Gives back pinned memory {@link #pinned} returned, for reuse (its copies may still be queued). */
    public synchronized void releasePinned(MemorySegment host) {
        pinnedMemory.give(host.address());
        freedSinceSync = true;
    }

    /** Pinned host bytes in use (released ones excluded). */
    public synchronized long pinnedBytes() {
        return pinnedMemory.inUse();
    }

    /** Queues a copy host→device on {@code onStream}. Pageable host memory makes the copy synchronous. */
    public void upload(MemorySegment host, DeviceBuffer dst, long dstOffset, long onStream) {
        if (dstOffset + host.byteSize() > dst.bytes()) throw new IndexOutOfBoundsException("upload past the buffer");
        rt.memcpyAsync(dst.address() + dstOffset, host.address(), host.byteSize(), Cudart.MEMCPY_HOST_TO_DEVICE,
                onStream);
    }

    /** Queues a copy device→host on {@code onStream}. */
    public void download(DeviceBuffer src, long srcOffset, MemorySegment host, long onStream) {
        if (srcOffset + host.byteSize() > src.bytes()) throw new IndexOutOfBoundsException("download past the buffer");
        rt.memcpyAsync(host.address(), src.address() + srcOffset, host.byteSize(), Cudart.MEMCPY_DEVICE_TO_HOST,
                onStream);
    }

    /**
     * Waits for everything queued on every stream; a kernel's fault surfaces here as a
     * {@link io.moeprune.gpu.cuda.CudaError}.
     */
    public void synchronize() {
        rt.streamSynchronize(copyStream);
        rt.streamSynchronize(stream);
        rt.streamSynchronize(downloadStream);
        synchronized (this) {
            freedSinceSync = false;
        }
    }

    /** The kernels of {@code source}, compiled for this device once per process (and cached on disk). */
    public synchronized KernelModule module(String name, String source) {
        KernelModule m = modules.get(name);
        if (m == null) {
            m = KernelModule.load(this, nvrtc, name, source);
            modules.put(name, m);
        }
        return m;
    }

    @Override
    public synchronized void close() {
        try {
            bind();
            rt.deviceSynchronize();
        } finally {
            for (KernelModule m : modules.values()) m.unload();
            modules.clear();
            cublas.destroy(blas);
            memory.releaseAll();
            pinnedMemory.releaseAll();
            rt.streamDestroy(stream);
            rt.streamDestroy(copyStream);
            rt.streamDestroy(downloadStream);
        }
    }
}
