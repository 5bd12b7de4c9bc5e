package io.moeprune.gpu.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLAS ({@code libcublas.so.13}) through FFM: the matrix products. cuBLAS is column-major; the runtime's matrices
 * are row-major, so y[n, out] = x[n, in]·W[out, in]ᵀ is asked as the column-major yᵀ = W·xᵀ: A = W transposed
 * ({@code lda = in}), B = x untransposed ({@code ldb = in}), C = y ({@code ldc = out}).
 */
public final class Cublas {
    /** cudaDataType values. */
    public static final int R_32F = 0, R_16F = 2, R_16BF = 14, R_8F_E4M3 = 28;
    private static final int COMPUTE_32F = 68, GEMM_DEFAULT = -1, OP_N = 0, OP_T = 1, STATUS_INVALID_VALUE = 7,
            STATUS_NOT_SUPPORTED = 15;
    private static final int DEFAULT_MATH = 0;

    private final NativeLibrary lib;
    private final MethodHandle create, destroy, setStream, setWorkspace, gemmEx, stridedBatched, version, statusString;
    private final Optional<MethodHandle> groupedBatched, batched;

    private Cublas(NativeLibrary lib) {
        this.lib = lib;
        create = f("cublasCreate_v2", ADDRESS);
        destroy = f("cublasDestroy_v2", JAVA_LONG);
        setStream = f("cublasSetStream_v2", JAVA_LONG, JAVA_LONG);
        setWorkspace = f("cublasSetWorkspace_v2", JAVA_LONG, JAVA_LONG, JAVA_LONG);
        version = f("cublasGetVersion_v2", JAVA_LONG, ADDRESS);
        gemmEx = f("cublasGemmEx", JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG,
                JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT);
        stridedBatched = f("cublasGemmStridedBatchedEx", JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS,
                JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT);
        groupedBatched = lib.optionalFunction("cublasGemmGroupedBatchedEx", FunctionDescriptor.of(JAVA_INT,
                JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS,
                JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT));
        batched = lib.optionalFunction("cublasGemmBatchedEx", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT,
                JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        statusString = lib.optionalFunction("cublasGetStatusString", FunctionDescriptor.of(ADDRESS, JAVA_INT))
                .orElse(null);
    }

    public static Cublas load() {
        // cuBLAS needs cuBLASLt: load it from the same folder first so no LD_LIBRARY_PATH is needed.
        NativeLibrary lt = NativeLibrary.open("cuBLASLt (libcublasLt)",
                List.of("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"));
        return new Cublas(NativeLibrary.open("cuBLAS (libcublas)",
                List.of("libcublas.so.13", "libcublas.so.12", "libcublas.so")));
    }

    private MethodHandle f(String name, MemoryLayout... args) {
        return lib.function(name, FunctionDescriptor.of(JAVA_INT, args));
    }

    public NativeLibrary library() {
        return lib;
    }

    private void check(int code, String call) {
        if (code == 0) return;
        String meaning = "status " + code;
        if (statusString != null) {
            try {
                meaning = ((MemorySegment) statusString.invokeExact(code)).reinterpret(256).getString(0);
            } catch (Throwable ignored) {
                // keep the number
            }
        }
        throw new CudaError(call, code, meaning);
    }

    /** A handle bound to {@code stream}. */
    public long create(long stream) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(ADDRESS);
            check((int) create.invokeExact(h), "cublasCreate");
            long handle = h.get(JAVA_LONG, 0);
            check((int) setStream.invokeExact(handle, stream), "cublasSetStream");
            return handle;
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void destroy(long handle) {
        try {
            check((int) destroy.invokeExact(handle), "cublasDestroy");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Gives cuBLAS a workspace of our own (it would otherwise allocate outside the memory bound). */
    public void workspace(long handle, long device, long bytes) {
        try {
            check((int) setWorkspace.invokeExact(handle, device, bytes), "cublasSetWorkspace");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public int version(long handle) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) version.invokeExact(handle, v), "cublasGetVersion");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /**
     * Row-major y[n, out] = alpha·x[n, in]·W[out, in]ᵀ + beta·y, F32 accumulation. {@code xType}/{@code wType}/{@code yType}
     * are cudaDataType values; rows of x and W are {@code in} elements apart, rows of y {@code ldy}.
     */
    public void linear(long handle, int n, int out, int in, float alpha, long w, int wType, long x, int xType,
                       float beta, long y, int yType, int ldy) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment al = a.allocateFrom(JAVA_FLOAT, alpha), be = a.allocateFrom(JAVA_FLOAT, beta);
            check((int) gemmEx.invokeExact(handle, OP_T, OP_N, out, n, in, al, w, wType, in, x, xType, in, be, y,
                    yType, ldy, COMPUTE_32F, GEMM_DEFAULT), "cublasGemmEx(" + n + "x" + out + "x" + in + ")");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /**
     * Column-major C = alpha·op(A)·op(B) + beta·C with strides between the {@code batch} problems (attention's
     * per-head products). {@code transA}/{@code transB}: whether A/B are transposed.
     */
    public void stridedBatched(long handle, boolean transA, boolean transB, int m, int n, int k, float alpha,
                               long a, int aType, int lda, long strideA, long b, int bType, int ldb, long strideB,
                               float beta, long c, int cType, int ldc, long strideC, int batch) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment al = arena.allocateFrom(JAVA_FLOAT, alpha), be = arena.allocateFrom(JAVA_FLOAT, beta);
            check((int) stridedBatched.invokeExact(handle, transA ? OP_T : OP_N, transB ? OP_T : OP_N, m, n, k, al, a,
                    aType, lda, strideA, b, bType, ldb, strideB, be, c, cType, ldc, strideC, batch, COMPUTE_32F,
                    GEMM_DEFAULT), "cublasGemmStridedBatchedEx");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Whether this cuBLAS has grouped batched products (12.5 and later). */
    public boolean hasGrouped() {
        return groupedBatched.isPresent();
    }

    /**
     * Several row-major products y_g[n_g, out] = x_g[n_g, in]·W_gᵀ of one shape family in one call (the experts of a
     * layer: each expert its own rows). {@code wPtrs}, {@code xPtrs}, {@code yPtrs} are device arrays of
     * {@code count} device pointers; {@code rows} the n of each problem (host). Each problem is its own group, since
     * the row counts differ. Returns false when cuBLAS does not support the types (the caller then loops
     * {@link #linear}).
     */
    public boolean groupedLinear(long handle, int count, int[] rows, int out, int in, long wPtrs, int wType,
                                 long xPtrs, int xType, long yPtrs, int yType) {
        if (groupedBatched.isEmpty()) return false;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment transA = a.allocate(JAVA_INT, count), transB = a.allocate(JAVA_INT, count);
            MemorySegment m = a.allocate(JAVA_INT, count), n = a.allocate(JAVA_INT, count), k = a.allocate(JAVA_INT, count);
            MemorySegment lda = a.allocate(JAVA_INT, count), ldb = a.allocate(JAVA_INT, count), ldc = a.allocate(JAVA_INT, count);
            MemorySegment alpha = a.allocate(JAVA_FLOAT, count), beta = a.allocate(JAVA_FLOAT, count);
            MemorySegment sizes = a.allocate(JAVA_INT, count);
            for (int i = 0; i < count; i++) {
                transA.setAtIndex(JAVA_INT, i, OP_T);
                transB.setAtIndex(JAVA_INT, i, OP_N);
                m.setAtIndex(JAVA_INT, i, out);
                n.setAtIndex(JAVA_INT, i, rows[i]);
                k.setAtIndex(JAVA_INT, i, in);
                lda.setAtIndex(JAVA_INT, i, in);
                ldb.setAtIndex(JAVA_INT, i, in);
                ldc.setAtIndex(JAVA_INT, i, out);
                alpha.setAtIndex(JAVA_FLOAT, i, 1f);
                beta.setAtIndex(JAVA_FLOAT, i, 0f);
                sizes.setAtIndex(JAVA_INT, i, 1);
            }
            int status = (int) groupedBatched.get().invokeExact(handle, transA, transB, m, n, k, alpha, wPtrs, wType,
                    lda, xPtrs, xType, ldb, beta, yPtrs, yType, ldc, count, sizes, COMPUTE_32F);
            // The documented type combinations of the grouped call are fewer than GemmEx's: a refused combination
            // comes back as "not supported" or "invalid value"; the caller's per-problem products then run (and
            // report any argument that is really wrong).
            if (status == STATUS_NOT_SUPPORTED || status == STATUS_INVALID_VALUE) return false;
            check(status, "cublasGemmGroupedBatchedEx(" + count + " problems)");
            return true;
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /**
     * {@code count} row-major products y_i[n, out] = x_i[n, in]·W_iᵀ of one shape (the batched experts' products:
     * every problem padded to the same n) in one {@code cublasGemmBatchedEx} call; {@code wPtrs}, {@code xPtrs},
     * {@code yPtrs} are device arrays of {@code count} device pointers. Returns false when this cuBLAS lacks the call
     * or refuses the types (the caller then runs the problems another way).
     */
    public boolean batchedLinear(long handle, int count, int n, int out, int in, long wPtrs, int wType, long xPtrs,
                                 int xType, long yPtrs, int yType) {
        if (batched.isEmpty()) return false;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment al = a.allocateFrom(JAVA_FLOAT, 1f), be = a.allocateFrom(JAVA_FLOAT, 0f);
            int status = (int) batched.get().invokeExact(handle, OP_T, OP_N, out, n, in, al, wPtrs, wType, in, xPtrs,
                    xType, in, be, yPtrs, yType, out, count, COMPUTE_32F, GEMM_DEFAULT);
            if (status == STATUS_NOT_SUPPORTED || status == STATUS_INVALID_VALUE) return false;
            check(status, "cublasGemmBatchedEx(" + count + " x " + n + "x" + out + "x" + in + ")");
            return true;
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }
}
