package io.moeprune.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.runtime.Sampler;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code moeprune generate MODEL --prompt TEXT}: continues a prompt, printing text as tokens arrive. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Generate text with a model on the CPU or a GPU (--device), streaming tokens as they are produced "
                + "(greedy when --temperature is 0). Timings go to standard error."})
public final class GenerateCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", converter = ModelDirConverter.class, description = "model directory (config.json, safetensors, tokenizer.json)")
    Path modelDir;

    @Option(names = "--prompt", required = true, description = "the prompt text")
    String prompt;

    @Option(names = "--chat", description = "wrap the prompt as a user message with the model's chat template")
    boolean chat;

    // No defaultValue (picocli would apply it after parsing and undo the hidden alias): the initialiser is the default.
    @Option(names = "--max-new-tokens", converter = Ranges.Positive.class, paramLabel = "N",
            description = "most tokens to generate (default ${DEFAULT-VALUE})")
    int maxNewTokens = 128;

    @Option(names = "--max-tokens", hidden = true, converter = Ranges.Positive.class, description = "old name of --max-new-tokens")
    void maxTokens(int n) {
        maxNewTokens = n;
    }

    @Option(names = "--temperature", converter = Ranges.NonNegativeFloat.class, defaultValue = "0", description = "sampling temperature; 0 = greedy (default ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--top-p", converter = Ranges.FloatFraction.class, defaultValue = "1", description = "nucleus sampling mass (default ${DEFAULT-VALUE})")
    float topP;

    @Option(names = "--seed", defaultValue = "0", description = "random seed for sampling (default ${DEFAULT-VALUE})")
    long seed;

    @Mixin
    ThreadsOption threads;

    @CommandLine.Mixin
    QuietOption quiet = new QuietOption();

    @CommandLine.Mixin
    JsonOption json = new JsonOption();

    @CommandLine.Mixin
    OutputOption output = new OutputOption();

    @CommandLine.Mixin
    DeviceOption device = new DeviceOption();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        // The device first: without CUDA, --device cuda is its one line before any input is read.
        try (DeviceOption.Session session = device.open()) {
            return generate();
        }
    }

    private Integer generate() {
        threads.apply();
        Tokenizer tok = Tokenizers.load(modelDir);
        String text = chat ? tok.applyChatTemplate(List.of(Map.of("role", "user", "content", prompt)), true) : prompt;
        int[] ids = tok.encode(text);
        if (ids.length == 0) throw new MoepruneException("the prompt encodes to no tokens");
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (Model model = Models.open(modelDir)) {
            List<Integer> generated = new ArrayList<>();
            int[] printed = {0};
            Generator.Result r = new Generator(model).generate(ids, maxNewTokens, new Sampler(temperature, topP, seed),
                    tok.eosIds(), token -> {
                        generated.add(token);
                        String s = tok.decode(generated.stream().mapToInt(Integer::intValue).toArray(), true);
                        // Wait while the text ends inside a multi-byte character; with --json only the object prints.
                        if (!json.json && !s.endsWith("\uFFFD") && s.length() > printed[0]) {
                            out.print(s.substring(printed[0]));
                            out.flush();
                            printed[0] = s.length();
                        }
                        return true;
                    });
            if (json.json || output.output != null) {
                ObjectNode o = ResultJson.object("moeprune-generate").put("model", modelDir.toString())
                        .put("prompt", prompt).put("chat", chat).put("temperature", temperature).put("top_p", topP)
                        .put("seed", seed).put("text", tok.decode(r.tokens(), true))
                        .put("prompt_tokens", r.promptTokens()).put("generated_tokens", r.tokens().length)
                        .put("stopped", r.stopped()).put("device", PrefillPasses.device())
                        .put("prefill_tokens_per_second", r.prefillTokensPerSecond())
                        .put("decode_tokens_per_second", ResultJson.finite(r.decodeTokensPerSecond()));
                ArrayNode tokenIds = o.putArray("token_ids");
                for (int t : r.tokens()) tokenIds.add(t);
                ResultJson.emit(o, json.json, output.output, out);
            }
            if (!json.json) {
                out.println();
                out.flush();
            }
            if (!quiet.quiet) err.printf("[%d prompt tokens, %.1f tokens/s prefill; %d generated, %.1f tokens/s decode]%n",
                    r.promptTokens(), r.prefillTokensPerSecond(), r.tokens().length, r.decodeTokensPerSecond());
            err.flush();
        }
        return 0;
    }
}
