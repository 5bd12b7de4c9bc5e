package io.moeprune.gpu.ops;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.GpuDevice;

import java.lang.foreign.MemorySegment;

/**
 * {@link DeviceOps} on a CUDA device: NVRTC kernels and cuBLAS. (Being written: every operation still says so.)
 */
public final class CudaOps implements DeviceOps {
    private final GpuDevice device;

    public CudaOps(GpuDevice device) {
        this.device = device;
    }

    public GpuDevice device() {
        return device;
    }

    private static MoepruneException notYet(String op) {
        return new MoepruneException("--device cuda: " + op + " is not implemented on the GPU yet", MoepruneException.FAILED, null);
    }

    @Override
    public DeviceBuffer alloc(long bytes, String what) {
        throw notYet("alloc");
    }

    @Override
    public void free(DeviceBuffer buffer) {
        throw notYet("free");
    }

    @Override
    public void upload(MemorySegment host, DeviceBuffer dst, long offset) {
        throw notYet("upload");
    }

    @Override
    public void download(DeviceBuffer src, long offset, MemorySegment host) {
        throw notYet("download");
    }

    @Override
    public void zero(DeviceBuffer buffer, long offset, long bytes) {
        throw notYet("zero");
    }

    @Override
    public void synchronize() {
        throw notYet("synchronize");
    }

    @Override
    public MemorySegment pinnedHost(long bytes) {
        throw notYet("pinnedHost");
    }

    @Override
    public void uploadOnCopyStream(MemorySegment host, DeviceBuffer dst, long offset) {
        throw notYet("uploadOnCopyStream");
    }

    @Override
    public long copyFence() {
        throw notYet("copyFence");
    }

    @Override
    public long computeFence() {
        throw notYet("computeFence");
    }

    @Override
    public void computeWaits(long fence) {
        throw notYet("computeWaits");
    }

    @Override
    public void copyWaits(long fence) {
        throw notYet("copyWaits");
    }

    @Override
    public void hostWaits(long fence) {
        throw notYet("hostWaits");
    }

    @Override
    public long allocatedBytes() {
        throw notYet("allocatedBytes");
    }

    @Override
    public long peakBytes() {
        throw notYet("peakBytes");
    }

    @Override
    public void toBf16(DeviceBuffer src, DeviceBuffer dst, long count) {
        throw notYet("toBf16");
    }

    @Override
    public void dequantFp8Blocks(DeviceBuffer src, DeviceBuffer scales, DeviceBuffer dst, int rows, int cols, int block) {
        throw notYet("dequantFp8Blocks");
    }

    @Override
    public void dequantMxfp4(DeviceBuffer blocks, DeviceBuffer scales, DeviceBuffer dst, int rows, int cols) {
        throw notYet("dequantMxfp4");
    }

    @Override
    public void linear(int n, int out, int in, DeviceBuffer w, long wOffset, DeviceBuffer x, long xOffset, DeviceBuffer y, long yOffset, int ldy, boolean accumulate) {
        throw notYet("linear");
    }

    @Override
    public void linearF32(int n, int out, int in, DeviceBuffer w, DeviceBuffer x, DeviceBuffer y) {
        throw notYet("linearF32");
    }

    @Override
    public void groupedLinear(int[] rows, int out, int in, long[] w, long[] x, long[] y) {
        throw notYet("groupedLinear");
    }

    @Override
    public void rmsNorm(DeviceBuffer src, long srcOffset, DeviceBuffer dst, long dstOffset, int rows, int width, int stride, DeviceBuffer weight, float eps) {
        throw notYet("rmsNorm");
    }

    @Override
    public void rope(DeviceBuffer x, long offset, int rows, int rowStride, int heads, int headDim, int ropeOffset, int rotaryDim, DeviceBuffer positions, DeviceBuffer invFreq, float attentionScale, boolean interleaved) {
        throw notYet("rope");
    }

    @Override
    public void attention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset, int kStride, DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out, DeviceBuffer starts, int sequences, int tokens, int heads, int kvHeads, int qkDim, int vDim, float scale, int window, DeviceBuffer sinks) {
        throw notYet("attention");
    }

    @Override
    public void gatedActivation(DeviceBuffer gateUp, DeviceBuffer out, int n, int width, float alpha, float limit, float upShift) {
        throw notYet("gatedActivation");
    }

    @Override
    public void addScaled(DeviceBuffer x, long xOffset, DeviceBuffer y, long yOffset, long count, float m) {
        throw notYet("addScaled");
    }

    @Override
    public void addBias(DeviceBuffer x, long offset, int rows, int width, int stride, DeviceBuffer bias) {
        throw notYet("addBias");
    }

    @Override
    public void sigmoidGateRows(DeviceBuffer x, int rows, int width, DeviceBuffer gate) {
        throw notYet("sigmoidGateRows");
    }

    @Override
    public void copy2d(DeviceBuffer src, long srcOffset, int srcStride, int srcCol, DeviceBuffer dst, long dstOffset, int dstStride, int dstCol, int rows, int cols, int srcRowDivisor) {
        throw notYet("copy2d");
    }

    @Override
    public void gatherRows(DeviceBuffer src, DeviceBuffer index, DeviceBuffer dst, int count, int width) {
        throw notYet("gatherRows");
    }

    @Override
    public void combineSlots(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight, DeviceBuffer out, int n, int k, int width) {
        throw notYet("combineSlots");
    }

    @Override
    public void slotNorms(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer norms, int count, int width) {
        throw notYet("slotNorms");
    }

    @Override
    public void turns(DeviceBuffer h, DeviceBuffer r, DeviceBuffer turn, int n, int width) {
        throw notYet("turns");
    }

    @Override
    public void close() {
        device.close();
    }
}
