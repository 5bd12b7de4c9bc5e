import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

import java.io.PrintWriter;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

/**
 * Runs the named JUnit test classes (or methods: {@code Class#method}, {@code Class#method(java.lang.String)} for a
 * parameterized one) and prints a summary: the GPU machine has no Maven. Compiled into .devbench/junit
 * (`javac -cp "$(ls .devbench/junit/*.jar | tr "\n" :)" -d .devbench/junit bench/device/RunTests.java`) next to the
 * junit jars of the test classpath and junit-platform-launcher; used by bench/device/amx_tests_and_bench.sh.
 */
public class RunTests {
    public static void main(String[] args) {
        LauncherDiscoveryRequestBuilder b = LauncherDiscoveryRequestBuilder.request();
        for (String c : args) b.selectors(c.contains("#") ? selectMethod(c) : selectClass(c));
        LauncherDiscoveryRequest request = b.build();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        LauncherFactory.create().execute(request, listener);
        TestExecutionSummary s = listener.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        // Failures first and the summary last: the device scripts keep the tail of the output.
        s.printFailuresTo(out, 12);
        s.printTo(out);
        System.exit(s.getTotalFailureCount() == 0 ? 0 : 1);
    }
}
