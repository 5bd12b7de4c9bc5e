package io.moeprune.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The header of a safetensors shard the random-model generators write tensor by tensor: the 8-byte length, the JSON
 * of names, dtypes, shapes and data offsets in order, padded with spaces to a multiple of 8.
 */
final class SafetensorsHeader {
    /** One tensor of the shard, in file order. */
    record Tensor(String name, String dtype, long[] shape, long bytes) {
    }

    private SafetensorsHeader() {
    }

    /** The header bytes, ready to write at the file's start (position 0, limit its length). */
    static ByteBuffer of(List<Tensor> tensors) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        long offset = 0;
        for (Tensor t : tensors) {
            ObjectNode o = header.putObject(t.name());
            o.put("dtype", t.dtype());
            var shape = o.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            o.putArray("data_offsets").add(offset).add(offset + t.bytes());
            offset += t.bytes();
        }
        byte[] h;
        try {
            h = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        int pad = (8 - h.length % 8) % 8;
        ByteBuffer head = ByteBuffer.allocate(8 + h.length + pad).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(h.length + pad).put(h);
        for (int i = 0; i < pad; i++) head.put((byte) ' ');
        return head.flip();
    }
}
