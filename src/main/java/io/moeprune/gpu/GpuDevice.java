package io.moeprune.gpu;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.cuda.Cublas;
import io.moeprune.gpu.cuda.CudaDriver;
import io.moeprune.gpu.cuda.Cudart;
import io.moeprune.gpu.cuda.Nvrtc;
import io.moeprune.prune.ByteSize;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One CUDA device opened for a run: its primary context, a compute stream and a copy stream (so the copy of layer
 * L+1's weights overlaps layer L's compute), a cuBLAS handle, the kernels compiled for it, and every byte of device
 * and pinned host memory the backend holds, bounded by {@code --gpu-memory}. Closing it frees everything.
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
    private final long blas;
    private final long limit;
    private final Map<Long, Long> live = new HashMap<>();
    private final List<MemorySegment> pinned = new ArrayList<>();
    private final Map<String, KernelModule> modules = new HashMap<>();
    private long allocated;
    private long peak;
    private long pinnedBytes;
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
        this.stream = rt.streamCreate();
        this.copyStream = rt.streamCreate();
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
     * Device memory for {@code what} (named in the error when the bound is exceeded: the user learns which
     * {@code --gpu-memory} would do).
     */
    public synchronized DeviceBuffer alloc(long bytes, String what) {
        if (bytes <= 0) throw new IllegalArgumentException("bytes " + bytes);
        long rounded = (bytes + 255) & ~255L;
        if (allocated + rounded > limit) throw boundExceeded(limit, what, rounded, allocated);
        long address = rt.malloc(rounded);
        live.put(address, rounded);
        allocated += rounded;
        peak = Math.max(peak, allocated);
        return new DeviceBuffer(address, bytes);
    }

    /** The one-line error (exit 2) when {@code what} does not fit in the {@code --gpu-memory} bound. */
    public static MoepruneException boundExceeded(long limit, String what, long bytes, long inUse) {
        return new MoepruneException("--gpu-memory " + ByteSize.format(limit) + " is too small: " + what + " needs "
                + ByteSize.format(bytes) + " more with " + ByteSize.format(inUse) + " in use");
    }

    public synchronized void free(DeviceBuffer buffer) {
        if (buffer == null) return;
        Long size = live.remove(buffer.address());
        if (size == null) throw new IllegalStateException("not allocated here or freed twice: " + buffer);
        rt.free(buffer.address());
        allocated -= size;
    }

    /** Bytes of device memory held now, and the most held at once. */
    public synchronized long allocatedBytes() {
        return allocated;
    }

    public synchronized long peakBytes() {
        return peak;
    }

    /** The bound on device memory this run allocates. */
    public long limitBytes() {
        return limit;
    }

    /** Page-locked host memory, freed with the device (staging for asynchronous copies). */
    public synchronized MemorySegment pinned(long bytes) {
        MemorySegment s = rt.mallocHost(bytes);
        pinned.add(s);
        pinnedBytes += bytes;
        return s;
    }

    public synchronized long pinnedBytes() {
        return pinnedBytes;
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

    /** Waits for everything queued on both streams; a kernel's fault surfaces here as a {@link io.moeprune.gpu.cuda.CudaError}. */
    public void synchronize() {
        rt.streamSynchronize(copyStream);
        rt.streamSynchronize(stream);
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
            for (Long address : live.keySet()) rt.free(address);
            live.clear();
            allocated = 0;
            for (MemorySegment s : pinned) rt.freeHost(s);
            pinned.clear();
            rt.streamDestroy(stream);
            rt.streamDestroy(copyStream);
        }
    }
}
