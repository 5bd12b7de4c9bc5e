package io.moeprune.cli;

import io.moeprune.MoepruneException;
import io.moeprune.inspect.Inspection;
import io.moeprune.inspect.InspectionJson;
import io.moeprune.inspect.InspectionText;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code moeprune inspect MODEL_DIR [--json]}: what the model is, how big it is, what pruning would save, and
 * whether its tensors match its config. Exit code 0 when the tensor check passes, 1 when tensors are missing or
 * have the wrong shape (unexpected extra tensors are only reported), 2 for bad input.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Describe a MoE model directory: architecture, dense and MoE layers, experts and routing, "
                + "parameters (total, active per token, routed experts), bytes by category, projected sizes after "
                + "pruning, and a check of the checkpoint's tensors against config.json."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:the tensor check passed", "1:tensors are missing or have the wrong shape",
                "2:bad input (missing directory or config.json, unsupported model, unreadable checkpoint)"})
public final class InspectCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL_DIR", converter = ModelDirConverter.class, description = "Hugging Face model directory (config.json + safetensors)")
    Path modelDir;

    @Option(names = "--json", description = "print one JSON object (format moeprune-inspect; keys documented in README.md) instead of the table")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        Inspection in = Inspection.of(modelDir);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            ResultJson.emit(ResultJson.object("moeprune-inspect").setAll(InspectionJson.of(in)), true, null, out);
        } else {
            out.print(InspectionText.render(in));
        }
        out.flush();
        return in.check().passes() ? 0 : MoepruneException.FAILED;
    }
}
