package io.moeprune.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import io.moeprune.MoepruneException;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's chat template (Jinja, as transformers renders it) rendered with jinjava. The variables are
 * {@code messages}, {@code add_generation_prompt}, {@code bos_token}, {@code eos_token}, and the function
 * {@code raise_exception(message)}.
 */
final class ChatTemplate {
    private final Path source;
    private final String template;
    private final Map<String, Object> specialTokens;
    private final Jinjava jinjava;

    ChatTemplate(Path source, String template, Map<String, Object> specialTokens) {
        this.source = source;
        this.template = template;
        this.specialTokens = specialTokens;
        this.jinjava = template == null ? null : newJinjava();
    }

    static ChatTemplate absent(Path source) {
        return new ChatTemplate(source, null, Map.of());
    }

    boolean isPresent() {
        return template != null;
    }

    private static Jinjava newJinjava() {
        JinjavaConfig config = JinjavaConfig.newBuilder().withTrimBlocks(false).withLstripBlocks(false)
                .withFailOnUnknownTokens(false).build();
        Jinjava j = new Jinjava(config);
        j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
        return j;
    }

    /** Called by templates to reject a conversation (e.g. roles out of order). */
    public static String raiseException(String message) {
        throw new TemplateRaisedException(message);
    }

    /** raise_exception(...) from a template. */
    static final class TemplateRaisedException extends RuntimeException {
        TemplateRaisedException(String message) {
            super(message);
        }
    }

    String render(List<Map<String, String>> messages, boolean addGenerationPrompt) {
        if (template == null) {
            throw MoepruneException.inFile(source, "the model has no chat template (no chat_template.jinja and no "
                    + "\"chat_template\" in tokenizer_config.json)");
        }
        Map<String, Object> bindings = new HashMap<>(specialTokens);
        bindings.put("messages", messages.stream().map(m -> (Map<String, Object>) new HashMap<String, Object>(m)).toList());
        bindings.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result;
        try {
            result = jinjava.renderForResult(template, bindings);
        } catch (TemplateRaisedException e) {
            throw MoepruneException.inFile(source, "chat template rejected the conversation: " + e.getMessage());
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                Throwable cause = error.getException();
                while (cause != null) {
                    if (cause instanceof TemplateRaisedException raised) {
                        throw MoepruneException.inFile(source, "chat template rejected the conversation: "
                                + raised.getMessage());
                    }
                    cause = cause.getCause();
                }
                throw MoepruneException.inFile(source, "chat template failed: " + error.getMessage()
                        + (error.getLineno() > 0 ? " (line " + error.getLineno() + ")" : ""));
            }
        }
        return result.getOutput();
    }
}
