/**
 * Tokenizers of Hugging Face checkpoints, read from tokenizer.json and reproducing the Hugging Face
 * {@code tokenizers} library id for id (tests compare with it through DJL's binding).
 *
 * <h2>tokenizer.json support</h2>
 * <ul>
 *   <li>Model: BPE only (byte-level and SentencePiece-style), merges as "a b" strings or [a, b] pairs,
 *       {@code ignore_merges}, {@code byte_fallback} (&lt;0xXX&gt; tokens), {@code unk_token} with
 *       {@code fuse_unk}, {@code continuing_subword_prefix}, {@code end_of_word_suffix}; dropout is ignored.
 *       Unigram and WordPiece models are refused with a one-line error.</li>
 *   <li>Normalizers: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace (string or regex), Strip, Sequence.
 *       Precompiled (SentencePiece charsmap) and BertNormalizer are refused.</li>
 *   <li>Pre-tokenizers: Split (string or Oniguruma regex, every behavior, invert), ByteLevel (add_prefix_space,
 *       use_regex), Metaspace (prepend_scheme always/first/never, split), Digits, Whitespace, WhitespaceSplit,
 *       Sequence. Oniguruma patterns are translated by {@link io.moeprune.tokenizer.OnigRegex}.</li>
 *   <li>Added tokens: matched leftmost-longest in the raw text (normalized=false) and then in the normalized
 *       text (normalized=true), honouring lstrip, rstrip and single_word; special ones are dropped by
 *       {@code decode(ids, true)}.</li>
 *   <li>Decoders: ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, Sequence.</li>
 *   <li>Post-processors are not applied: {@link io.moeprune.tokenizer.Tokenizer#encode} adds no special
 *       tokens (like {@code add_special_tokens=False}).</li>
 * </ul>
 *
 * <h2>Chat templates</h2>
 * Rendered with jinjava, configured like transformers' Jinja environment (trim_blocks, lstrip_blocks,
 * whitespace control, Python operator precedence, loop controls). Added for templates: Python str methods
 * (startswith, endswith, strip/lstrip/rstrip with chars, split, upper, lower, title, capitalize, replace, find,
 * count, join), Python-style {@code tojson}, {@code raise_exception}, {@code strftime_now}; rewritten before
 * parsing: {@code x[::-1]}, {@code namespace(k=expr)} and {@code not x is test} (see JinjaCompat). Known limits:
 * slices with a step other than {@code [::-1]}; {@code not EXPR is test} where EXPR is more than a name,
 * attribute or subscript; Python dict methods beyond jinjava's; message content must be a string (no
 * multi-modal content lists). Tested against Jinja2 renderings of the shared model's template, a Qwen3-style
 * template exercising these features, and the real Qwen3 and DeepSeek-V3 templates.
 *
 * <h2>Speed</h2>
 * Words are encoded once and cached (keyed by the raw word, so byte-level rewriting happens only on a miss);
 * merges use a rank-ordered priority queue over an open-addressing pair table. See BENCHMARKS.md.
 */
package io.moeprune.tokenizer;
