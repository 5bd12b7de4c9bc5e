package io.moeprune.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import jinjava.javax.el.CompositeELResolver;
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
        this.template = template == null ? null : JinjaCompat.rewrite(template);
        this.specialTokens = specialTokens;
        this.jinjava = template == null ? null : newJinjava();
    }

    static ChatTemplate absent(Path source) {
        return new ChatTemplate(source, null, Map.of());
    }

    boolean isPresent() {
        return template != null;
    }

    /**
     * jinjava set up as close to transformers' Jinja environment as it goes: trim_blocks and lstrip_blocks,
     * whitespace control on expressions, Python operator precedence, Python str methods, Python's tojson.
     */
    private static Jinjava newJinjava() {
        LegacyOverrides python = LegacyOverrides.newBuilder().withUseTrimmingForNotesAndExpressions(true)
                .withUseNaturalOperatorPrecedence(true).withParseWhitespaceControlStrictly(true)
                .withKeepNullableLoopValues(true).withHandleBackslashInQuotesOnly(true).withEvaluateMapKeys(true).build();
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStringMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        JinjavaConfig config = JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true)
                .withLegacyOverrides(python).withElResolver(resolver).withFailOnUnknownTokens(false).build();
        Jinjava j = new Jinjava(config);
        j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
        j.getGlobalContext().registerFilter(new PythonToJsonFilter());
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
        return render(messages, addGenerationPrompt, Map.of());
    }

    /** Renders with extra template variables (tools, enable_thinking, ...). */
    String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt, Map<String, Object> extra) {
        if (template == null) {
            throw MoepruneException.inFile(source, "the model has no chat template (no chat_template.jinja and no "
                    + "\"chat_template\" in tokenizer_config.json)");
        }
        Map<String, Object> bindings = new HashMap<>(specialTokens);
        bindings.putAll(extra);
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
