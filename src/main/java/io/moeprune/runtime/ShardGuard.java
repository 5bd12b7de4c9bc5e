package io.moeprune.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.io.FileLease;
import io.moeprune.model.ExpectedTensor;
import io.moeprune.model.ExpectedTensors;
import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.SafetensorsFile;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Stops a run cleanly when a shard is truncated under it. A read of a mapped page beyond a file's new end raises
 * SIGBUS: the JVM turns it into an InternalError for plain memory-segment reads, but crashes (hs_err file, exit
 * 134) when it hits Vector API loads in compiled code or the native AMX kernel. So every shard gets a read lease
 * where the kernel grants one ({@link FileLease}): a process that truncates or opens it for writing is held until we
 * stop at the next layer boundary and exit, and we never touch a truncated page. Where leases are refused, the
 * shards a layer reads are checked (one fstat each) before the layer runs, and an InternalError that does arrive is
 * explained by the shard that shrank; a truncation during a layer that reads the truncated pages may then still
 * crash the JVM (docs/reliability.md).
 */
final class ShardGuard implements AutoCloseable {
    private final List<List<SafetensorsFile>> byLayer;
    private final List<SafetensorsFile> global;
    private final Checkpoint checkpoint;
    private final List<FileLease> leases;

    private ShardGuard(Checkpoint checkpoint, List<List<SafetensorsFile>> byLayer, List<SafetensorsFile> global,
                       List<FileLease> leases) {
        this.checkpoint = checkpoint;
        this.byLayer = byLayer;
        this.global = global;
        this.leases = leases;
    }

    /** The shards each layer reads, from the tensors the spec implies (all present: the tensor check passed). */
    static ShardGuard of(ModelSpec spec, Checkpoint checkpoint) {
        List<Set<SafetensorsFile>> layers = new ArrayList<>();
        for (int l = 0; l < spec.numLayers(); l++) layers.add(new LinkedHashSet<>());
        Set<SafetensorsFile> global = new LinkedHashSet<>();
        for (ExpectedTensor t : ExpectedTensors.of(spec)) {
            if (!checkpoint.has(t.name())) continue;
            SafetensorsFile shard = checkpoint.shardOf(t.name());
            (t.layer() >= 0 && t.layer() < layers.size() ? layers.get(t.layer()) : global).add(shard);
        }
        // Shards with none of the implied tensors (e.g. only FP8 scale companions, which live beside their weights
        // in practice) are checked with the global ones, once per forward pass.
        Set<SafetensorsFile> covered = new LinkedHashSet<>(global);
        layers.forEach(covered::addAll);
        for (SafetensorsFile f : checkpoint.shards().values()) if (!covered.contains(f)) global.add(f);
        // Leased through descriptors of their own, after the mapping: the mapping stays the one the layers hold.
        List<FileLease> leases = new ArrayList<>();
        for (SafetensorsFile f : checkpoint.shards().values()) FileLease.tryTake(f.path()).ifPresent(leases::add);
        return new ShardGuard(checkpoint, layers.stream().map(List::copyOf).toList(), List.copyOf(global),
                List.copyOf(leases));
    }

    /** Before a forward pass: the shards of the embedding, final norm and LM head, and any no layer reads. */
    void checkAll() {
        requireNoLeaseBreak();
        for (SafetensorsFile f : global) f.requireIntact();
    }

    /** Before layer l: the shards it reads. */
    void checkLayer(int l) {
        requireNoLeaseBreak();
        for (SafetensorsFile f : byLayer.get(l)) f.requireIntact();
    }

    /**
     * Stops when another process has begun truncating or writing any leased shard (not just this layer's: the
     * sooner we stop, the sooner it goes ahead). It is held by the kernel until our leases are released, so no
     * page we map has gone yet. Costs one volatile read until a lease break signal arrives.
     */
    private void requireNoLeaseBreak() {
        if (!FileLease.breakNoticed()) return;
        for (FileLease lease : leases) {
            if (lease.breaking()) {
                throw new MoepruneException(lease.path() + ": another process is truncating or writing it while in"
                        + " use; the run stopped to let it go ahead", MoepruneException.FAILED, null);
            }
        }
    }

    /** Which shards hold a lease (for tests and messages). */
    int leaseCount() {
        return leases.size();
    }

    /** Releases the leases: a process held by one goes ahead. */
    @Override
    public void close() {
        leases.forEach(FileLease::close);
    }

    /**
     * The one-line error for an InternalError raised by a faulting mapped read: names the shard that shrank. An
     * InternalError with no shrunk shard behind it is not ours to explain and is rethrown.
     */
    RuntimeException explain(InternalError e) {
        for (SafetensorsFile f : checkpoint.shards().values()) {
            try {
                f.requireIntact();
            } catch (MoepruneException shrunk) {
                return new MoepruneException(shrunk.getMessage(), shrunk.exitCode(), e);
            }
        }
        throw e;
    }
}
