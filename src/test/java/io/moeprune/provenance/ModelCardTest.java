package io.moeprune.provenance;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The provenance section of a pruned checkpoint's README.md and its front matter. */
class ModelCardTest {

    @Test
    void sectionSaysFromWhatHowManyForWhichDomainsAndHowToReproduce() {
        String s = ModelCard.section(ProvenanceTest.twoSteps());
        assertTrue(s.startsWith(ModelCard.MARKER + "\n## Pruned with moeprune\n"), s);
        assertTrue(s.contains("This checkpoint is `four` with routed experts removed: it keeps **2 of 32 experts** "
                + "in each of its 2 MoE layers."), s);
        assertTrue(s.contains("- Pruned from: `/models/four` (fingerprint `sha256:four`), itself pruned from `/models/full` "
                + "(2 pruning steps"), s);
        assertTrue(s.contains("- Domains: math (2 demonstrations, 30 tokens)\n"), s);
        assertTrue(s.contains("- Selection: method `easyep`, budget `per-layer 2`, strategy `default`\n"), s);
        assertTrue(s.contains("`moeprune prune /models/full --mask moeprune.json --out pruned`"), s);
    }

    @Test
    void frontMatterStaysFirstWithBaseModelNamingTheSource() {
        String source = "---\nlicense: apache-2.0\nbase_model:\n  - Qwen/Qwen3-30B-A3B-Base\ntags:\n- moe\n---\n# Card\nbody\n";
        String card = ModelCard.of(source, ProvenanceTest.twoSteps());
        assertTrue(card.startsWith("---\nlicense: apache-2.0\ntags:\n- moe\nbase_model: four\n---\n\n" + ModelCard.MARKER), card);
        assertTrue(card.endsWith("follows unchanged.\n\n# Card\nbody\n"), card);
        assertFalse(card.contains("Qwen3-30B"), card);
    }

    @Test
    void aCardWithoutFrontMatterGetsOneAndFollowsUnchanged() {
        String source = "# moe-tiny-7d\n\n---\nnot front matter\n";
        String card = ModelCard.of(source, ProvenanceTest.twoSteps());
        assertTrue(card.startsWith("---\nbase_model: four\n---\n\n" + ModelCard.MARKER), card);
        assertTrue(card.endsWith("\n" + source), card);
        assertTrue(ModelCard.of(null, ProvenanceTest.twoSteps()).startsWith("---\nbase_model: four\n---\n\n"));
    }

    @Test
    void baseModelIsTheHubIdOfACacheSnapshotElseTheDirectoryName() {
        assertEquals("Qwen/Qwen3-30B-A3B", ModelCard.baseModelId(
                "/root/.cache/huggingface/hub/models--Qwen--Qwen3-30B-A3B/snapshots/0123abcd"));
        assertEquals("moe-tiny-7d", ModelCard.baseModelId("/work/shared/models/moe-tiny-7d"));
    }
}
