package io.moeprune.gpu.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The CUDA runtime ({@code libcudart.so.13}) through FFM: devices, memory, copies, streams and events. Device
 * pointers travel as {@code long}; host memory as {@link MemorySegment}. Every call's status is checked
 * ({@link CudaError}).
 */
public final class Cudart {
    public static final int MEMCPY_HOST_TO_DEVICE = 1, MEMCPY_DEVICE_TO_HOST = 2, MEMCPY_DEVICE_TO_DEVICE = 3;
    public static final int ATTR_MULTIPROCESSORS = 16, ATTR_CC_MAJOR = 75, ATTR_CC_MINOR = 76,
            ATTR_SHARED_PER_BLOCK_OPTIN = 97;
    private static final int STREAM_NON_BLOCKING = 1, EVENT_DEFAULT = 0, EVENT_DISABLE_TIMING = 2;

    private final NativeLibrary lib;
    private final MethodHandle getDeviceCount, setDevice, deviceGetAttribute, malloc, free, mallocHost, freeHost,
            memcpyAsync, memsetAsync, streamCreate, streamSynchronize, streamDestroy, streamWaitEvent, eventCreate,
            eventRecord, eventSynchronize, eventElapsed, eventDestroy, memGetInfo, getErrorString, driverGetVersion,
            runtimeGetVersion, deviceSynchronize, getLastError;

    Cudart(NativeLibrary lib) {
        this.lib = lib;
        getDeviceCount = f("cudaGetDeviceCount", ADDRESS);
        setDevice = f("cudaSetDevice", JAVA_INT);
        deviceGetAttribute = f("cudaDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
        malloc = f("cudaMalloc", ADDRESS, JAVA_LONG);
        free = f("cudaFree", JAVA_LONG);
        mallocHost = f("cudaMallocHost", ADDRESS, JAVA_LONG);
        freeHost = f("cudaFreeHost", ADDRESS);
        memcpyAsync = f("cudaMemcpyAsync", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_LONG);
        memsetAsync = f("cudaMemsetAsync", JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG);
        streamCreate = f("cudaStreamCreateWithFlags", ADDRESS, JAVA_INT);
        streamSynchronize = f("cudaStreamSynchronize", JAVA_LONG);
        streamDestroy = f("cudaStreamDestroy", JAVA_LONG);
        streamWaitEvent = f("cudaStreamWaitEvent", JAVA_LONG, JAVA_LONG, JAVA_INT);
        eventCreate = f("cudaEventCreateWithFlags", ADDRESS, JAVA_INT);
        eventRecord = f("cudaEventRecord", JAVA_LONG, JAVA_LONG);
        eventSynchronize = f("cudaEventSynchronize", JAVA_LONG);
        eventElapsed = f("cudaEventElapsedTime", ADDRESS, JAVA_LONG, JAVA_LONG);
        eventDestroy = f("cudaEventDestroy", JAVA_LONG);
        memGetInfo = f("cudaMemGetInfo", ADDRESS, ADDRESS);
        getErrorString = lib.function("cudaGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        driverGetVersion = f("cudaDriverGetVersion", ADDRESS);
        runtimeGetVersion = f("cudaRuntimeGetVersion", ADDRESS);
        deviceSynchronize = f("cudaDeviceSynchronize");
        getLastError = f("cudaGetLastError");
    }

    /** Loads the runtime library (one-line error, exit 2, when it is not installed). */
    public static Cudart load() {
        return new Cudart(NativeLibrary.open("the CUDA runtime (libcudart)",
                List.of("libcudart.so.13", "libcudart.so.12", "libcudart.so")));
    }

    private MethodHandle f(String name, java.lang.foreign.MemoryLayout... args) {
        return lib.function(name, FunctionDescriptor.of(JAVA_INT, args));
    }

    public NativeLibrary library() {
        return lib;
    }

    /** The runtime's words for a status code. */
    public String errorString(int code) {
        try {
            MemorySegment s = (MemorySegment) getErrorString.invokeExact(code);
            return s.reinterpret(512).getString(0);
        } catch (Throwable t) {
            return "error " + code;
        }
    }

    void check(int code, String call) {
        if (code != 0) throw new CudaError(call, code, errorString(code));
    }

    /** Devices the runtime sees; the status code instead of an exception (no driver, no device) for probing. */
    public int deviceCount(int[] status) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            int code = (int) getDeviceCount.invokeExact(n);
            status[0] = code;
            return code == 0 ? n.get(JAVA_INT, 0) : 0;
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void setDevice(int device) {
        try {
            check((int) setDevice.invokeExact(device), "cudaSetDevice(" + device + ")");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public int attribute(int attribute, int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) deviceGetAttribute.invokeExact(v, attribute, device), "cudaDeviceGetAttribute");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Device memory; the caller accounts for it ({@code GpuMemory}). */
    public long malloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check((int) malloc.invokeExact(p, bytes), "cudaMalloc(" + bytes + " bytes)");
            return p.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void free(long device) {
        try {
            check((int) free.invokeExact(device), "cudaFree");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Page-locked host memory (copies from it run asynchronously at full bus speed). */
    public MemorySegment mallocHost(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check((int) mallocHost.invokeExact(p, bytes), "cudaMallocHost(" + bytes + " bytes)");
            return p.get(ADDRESS, 0).reinterpret(bytes);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void freeHost(MemorySegment host) {
        try {
            check((int) freeHost.invokeExact(host), "cudaFreeHost");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** An asynchronous copy of {@code bytes} between addresses (host addresses from {@code MemorySegment.address()}). */
    public void memcpyAsync(long dst, long src, long bytes, int kind, long stream) {
        try {
            check((int) memcpyAsync.invokeExact(dst, src, bytes, kind, stream), "cudaMemcpyAsync(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void memsetAsync(long device, int value, long bytes, long stream) {
        try {
            check((int) memsetAsync.invokeExact(device, value, bytes, stream), "cudaMemsetAsync");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** A stream that does not synchronise with the legacy default stream. */
    public long streamCreate() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check((int) streamCreate.invokeExact(p, STREAM_NON_BLOCKING), "cudaStreamCreateWithFlags");
            return p.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void streamSynchronize(long stream) {
        try {
            check((int) streamSynchronize.invokeExact(stream), "cudaStreamSynchronize");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void streamDestroy(long stream) {
        try {
            check((int) streamDestroy.invokeExact(stream), "cudaStreamDestroy");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Work queued on {@code stream} after this waits for {@code event}. */
    public void streamWaitEvent(long stream, long event) {
        try {
            check((int) streamWaitEvent.invokeExact(stream, event, 0), "cudaStreamWaitEvent");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** An event that can time ({@link #elapsedMillis}). */
    public long eventCreate() {
        return eventCreate(true);
    }

    /** An event; without timing (a fence between streams) recording and waiting on it cost less. */
    public long eventCreate(boolean timing) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check((int) eventCreate.invokeExact(p, timing ? EVENT_DEFAULT : EVENT_DISABLE_TIMING),
                    "cudaEventCreateWithFlags");
            return p.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void eventRecord(long event, long stream) {
        try {
            check((int) eventRecord.invokeExact(event, stream), "cudaEventRecord");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void eventSynchronize(long event) {
        try {
            check((int) eventSynchronize.invokeExact(event), "cudaEventSynchronize");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Milliseconds between two recorded events. */
    public float elapsedMillis(long start, long end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ms = a.allocate(JAVA_FLOAT);
            check((int) eventElapsed.invokeExact(ms, start, end), "cudaEventElapsedTime");
            return ms.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void eventDestroy(long event) {
        try {
            check((int) eventDestroy.invokeExact(event), "cudaEventDestroy");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** {free, total} bytes of the current device. */
    public long[] memInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(JAVA_LONG), total = a.allocate(JAVA_LONG);
            check((int) memGetInfo.invokeExact(free, total), "cudaMemGetInfo");
            return new long[]{free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** The driver's CUDA version as 1000·major + 10·minor (0 without a driver). */
    public int driverVersion() {
        return version(driverGetVersion, "cudaDriverGetVersion");
    }

    public int runtimeVersion() {
        return version(runtimeGetVersion, "cudaRuntimeGetVersion");
    }

    private int version(MethodHandle h, String call) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            int code = (int) h.invokeExact(v);
            return code == 0 ? v.get(JAVA_INT, 0) : 0;
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void deviceSynchronize() {
        try {
            check((int) deviceSynchronize.invokeExact(), "cudaDeviceSynchronize");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Throws the error a kernel launch left behind, if any (launches report asynchronously). */
    public void checkLastError(String after) {
        try {
            check((int) getLastError.invokeExact(), after);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }
}
