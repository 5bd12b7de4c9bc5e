package io.moeprune.gpu;

import io.moeprune.MoepruneException;
import io.moeprune.cli.Main;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What --device cuda says where CUDA cannot run (CI), and the device names it parses. */
class CudaLibrariesProbeTest {

    @Test
    void devicesAreListedOrTheMissingPartIsNamedInOneLine() {
        List<GpuInfo> devices;
        try {
            devices = CudaLibrariesProbe.devices();
        } catch (MoepruneException e) {
            System.out.println("no CUDA here: " + e.getMessage());
            assertTrue(e.getMessage().startsWith("--device cuda: "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
            assertEquals(2, e.exitCode());
            return;
        }
        assertFalse(devices.isEmpty());
        for (GpuInfo d : devices) {
            assertTrue(d.major() >= 5 && d.multiprocessors() > 0 && d.totalBytes() > 0, d.describe());
        }
    }

    @Test
    void theDevicesCommandExitsTwoWithOneLineWithoutCuda() {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute("devices");
        boolean cuda;
        try {
            CudaLibrariesProbe.devices();
            cuda = true;
        } catch (MoepruneException e) {
            cuda = false;
        }
        if (cuda) {
            assertEquals(0, code);
            assertTrue(out.toString().startsWith("cuda:0 "), out.toString());
        } else {
            assertEquals(2, code);
            assertEquals(1, err.toString().strip().lines().count(), err.toString());
            assertTrue(err.toString().contains("--device cuda: "), err.toString());
        }
    }

    @Test
    void deviceNamesParse() {
        assertEquals(DeviceChoice.CPU, DeviceChoice.parse("cpu"));
        assertEquals(new DeviceChoice(DeviceChoice.Kind.CUDA, 0), DeviceChoice.parse("cuda"));
        assertEquals(new DeviceChoice(DeviceChoice.Kind.CUDA, 3), DeviceChoice.parse("CUDA:3"));
        assertEquals("cuda:3", DeviceChoice.parse("cuda:3").toString());
        for (String bad : new String[]{"tpu", "cuda:", "cuda:-1", "cuda:x", ""}) {
            MoepruneException e = assertThrows(MoepruneException.class, () -> DeviceChoice.parse(bad));
            assertTrue(e.getMessage().startsWith("--device: "), e.getMessage());
        }
    }
}
