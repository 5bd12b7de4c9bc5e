package io.moeprune.serve;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.io.JsonFiles;

/** A request the server refuses, answered as OpenAI does: a 4xx status and {"error": {message, type, param, code}}. */
public final class ApiError extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;

    public ApiError(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400 invalid_request_error about one request field. */
    public static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message);
    }

    public int status() {
        return status;
    }

    public String body() {
        ObjectNode root = JsonFiles.mapper().createObjectNode();
        root.putObject("error").put("message", getMessage()).put("type", type).put("param", param).put("code", code);
        return root.toString();
    }
}
