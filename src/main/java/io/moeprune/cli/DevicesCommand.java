package io.moeprune.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.gpu.CudaLibrariesProbe;
import io.moeprune.gpu.GpuInfo;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code moeprune devices [--json]}: the CUDA devices {@code --device cuda[:N]} can use, or the one line that says
 * what is missing (driver, library, device) with exit code 2.
 */
@Command(name = "devices", mixinStandardHelpOptions = true,
        description = {"List the CUDA devices --device cuda[:N] can use: name, compute capability, multiprocessors, "
                + "memory, driver and runtime versions; or say what is missing (driver, CUDA library, device)."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:at least one CUDA device can be used", "2:CUDA cannot run here (the line says why)"})
public final class DevicesCommand implements Callable<Integer> {
    @Mixin
    JsonOption json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        List<GpuInfo> devices = CudaLibrariesProbe.devices();
        PrintWriter out = spec.commandLine().getOut();
        if (json.json) {
            ObjectNode o = ResultJson.object("moeprune-devices");
            ArrayNode list = o.putArray("devices");
            for (GpuInfo d : devices) {
                list.addObject().put("device", "cuda:" + d.ordinal()).put("name", d.name())
                        .put("architecture", d.architecture()).put("multiprocessors", d.multiprocessors())
                        .put("total_bytes", d.totalBytes()).put("free_bytes", d.freeBytes())
                        .put("driver_cuda", GpuInfo.version(d.driverVersion()))
                        .put("runtime_cuda", GpuInfo.version(d.runtimeVersion()));
            }
            ResultJson.emit(o, true, null, out);
        } else {
            for (GpuInfo d : devices) out.println(d.describe());
        }
        out.flush();
        return 0;
    }
}
