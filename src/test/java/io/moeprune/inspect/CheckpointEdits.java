package io.moeprune.inspect;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/** Test helper: copies a single-file fixture with its safetensors header edited (data area unchanged). */
public final class CheckpointEdits {
    private CheckpointEdits() {
    }

    public static Path copyWithHeader(Path fixture, Path target, Consumer<ObjectNode> edit) throws IOException {
        Files.createDirectories(target);
        Files.copy(fixture.resolve("config.json"), target.resolve("config.json"));
        byte[] all = Files.readAllBytes(fixture.resolve("model.safetensors"));
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = (ObjectNode) json.readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
        edit.accept(header);
        byte[] h = json.writeValueAsBytes(header);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + all.length - 8 - (int) n).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h).put(all, 8 + (int) n, all.length - 8 - (int) n);
        Files.write(target.resolve("model.safetensors"), out.array());
        return target;
    }

    /** Renames a tensor in the header. */
    public static void rename(ObjectNode header, String from, String to) {
        header.set(to, header.remove(from));
    }

    /** Gives a tensor another shape with the same element count. */
    public static void reshape(ObjectNode header, String name, long... shape) {
        var arr = ((ObjectNode) header.get(name)).putArray("shape");
        for (long d : shape) arr.add(d);
    }
}
