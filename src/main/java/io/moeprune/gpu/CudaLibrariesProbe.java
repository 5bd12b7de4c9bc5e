package io.moeprune.gpu;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.cuda.CudaDriver;
import io.moeprune.gpu.cuda.Cudart;

import java.util.ArrayList;
import java.util.List;

/**
 * Finds out whether CUDA can run here, and if not, says in one line what is missing: the driver library, the
 * runtime, a device, or the device asked for. {@code --device cuda} on a machine without a usable GPU is exit code 2
 * with that line.
 */
public final class CudaLibrariesProbe {
    private static final int NO_DEVICE = 100, INSUFFICIENT_DRIVER = 35;

    private CudaLibrariesProbe() {
    }

    /** The devices there are; a one-line {@link MoepruneException} (exit 2) when CUDA cannot run here at all. */
    public static List<GpuInfo> devices() {
        CudaDriver driver = CudaDriver.load();
        Cudart rt = Cudart.load();
        int init = driver.init();
        int[] status = new int[1];
        int count = rt.deviceCount(status);
        if (status[0] == INSUFFICIENT_DRIVER) {
            throw new MoepruneException("--device cuda: the NVIDIA driver (CUDA " + GpuInfo.version(rt.driverVersion())
                    + ") is older than the CUDA runtime " + GpuInfo.version(rt.runtimeVersion()) + " ("
                    + rt.library().location() + "): update the driver");
        }
        if (status[0] == NO_DEVICE || (status[0] == 0 && count == 0)) {
            throw new MoepruneException("--device cuda: the NVIDIA driver sees no CUDA device");
        }
        if (status[0] != 0 || init != 0) {
            throw new MoepruneException("--device cuda: CUDA cannot start here: " + rt.errorString(status[0] != 0
                    ? status[0] : init) + " (cudaGetDeviceCount " + status[0] + ", cuInit " + init + ")");
        }
        List<GpuInfo> out = new ArrayList<>();
        for (int d = 0; d < count; d++) out.add(describe(rt, driver, d));
        return out;
    }

    static GpuInfo describe(Cudart rt, CudaDriver driver, int d) {
        rt.setDevice(d);
        long[] mem = rt.memInfo();
        return new GpuInfo(d, driver.deviceName(d), rt.attribute(Cudart.ATTR_CC_MAJOR, d),
                rt.attribute(Cudart.ATTR_CC_MINOR, d), rt.attribute(Cudart.ATTR_MULTIPROCESSORS, d), mem[1], mem[0],
                rt.driverVersion(), rt.runtimeVersion());
    }

    /** The device {@code choice} names; a one-line error (exit 2) when it does not exist. */
    public static GpuInfo device(DeviceChoice choice) {
        List<GpuInfo> all = devices();
        if (choice.ordinal() >= all.size()) {
            throw new MoepruneException("--device " + choice + ": there " + (all.size() == 1 ? "is 1 CUDA device (cuda:0)"
                    : "are " + all.size() + " CUDA devices (cuda:0 to cuda:" + (all.size() - 1) + ")"));
        }
        return all.get(choice.ordinal());
    }
}
