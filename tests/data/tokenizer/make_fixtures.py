#!/usr/bin/env python3
"""Writes the small tokenizer.json fixtures of tst_tokenizer (and the fixture rows of
tst_tokenizer_parity). Each file exercises a group of tokenizer.json components that the real
Llama / Qwen files do not use. Vocabularies are tiny: a handful of words, built into merges one
character at a time so every merge result is in the vocab. Deterministic; run from this folder:
    python3 make_fixtures.py"""
import json

def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

B2U = bytes_to_unicode()

def byte_level(s):
    return "".join(B2U[b] for b in s.encode("utf-8"))

def build(base_tokens, words, prefix=""):
    """vocab: base tokens, then every left-to-right prefix of each word; merges accordingly."""
    vocab = {}
    for t in base_tokens:
        vocab.setdefault(t, len(vocab))
    merges = []
    for w in words:
        chars = list(w)
        cur = chars[0]
        for c in chars[1:]:
            right = prefix + c if prefix else c
            vocab.setdefault(right, len(vocab))
            new = cur + c
            if (cur, right) not in merges:
                merges.append((cur, right))
            vocab.setdefault(new, len(vocab))
            cur = new
    return vocab, merges

def model(vocab, merges, **options):
    m = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False}
    m.update(options)
    m["vocab"] = vocab
    m["merges"] = merges
    return m

def added(id_, content, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}

def write(name, tokenizer):
    base = {"version": "1.0", "truncation": None, "padding": None}
    base.update(tokenizer)
    with open(name, "w", encoding="utf-8") as f:
        json.dump(base, f, ensure_ascii=False, indent=1)
        f.write("\n")

ENGLISH = ["the", "and", "ing", "er", "token", "hello", "world", "model", "learn", "tion", "in", "on", "at", "is"]

# 1. GPT-2 style: ByteLevel pre-tokenizer with its own regex and prefix space, "a b" string merges,
#    added tokens with lstrip / rstrip / single_word, TemplateProcessing with two special tokens.
alphabet = [B2U[b] for b in range(256)]
words = [byte_level(" " + w) for w in ENGLISH] + [byte_level(w) for w in ENGLISH] + [byte_level("  "), byte_level("\n\n")]
vocab, merges = build(alphabet, words)
n = len(vocab)
write("gpt2_bytelevel.json", {
    "added_tokens": [added(n, "<|bos|>"), added(n + 1, "<|eos|>"),
                     added(n + 2, "<mask>", special=False, normalized=False, lstrip=True, rstrip=True),
                     added(n + 3, "[WORD]", special=False, normalized=False, single_word=True)],
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                  {"SpecialToken": {"id": "<|eos|>", "type_id": 0}}],
                       "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [n], "tokens": ["<|bos|>"]},
                                          "<|eos|>": {"id": "<|eos|>", "ids": [n + 1], "tokens": ["<|eos|>"]}}},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": model(vocab, [a + " " + b for a, b in merges]),
})

# 2. SentencePiece style (Mistral / newer Llama conversions): Metaspace pre-tokenizer with
#    prepend_scheme "first", byte_fallback, unk + fuse_unk, the Llama 2 decoder chain.
sp_words = ["\u2581" + w for w in ENGLISH] + ENGLISH + ["\u2581\u2581", "\u65e5\u672c"]
letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["\u2581", "\u65e5", "\u672c", "\u8a9e", "."]
base = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + letters
vocab, merges = build(base, sp_words)
write("sentencepiece_metaspace.json", {
    "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
    "normalizer": None,
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": model(vocab, [[a, b] for a, b in merges], unk_token="<unk>", fuse_unk=True, byte_fallback=True),
})

# 3. Metaspace splitting (legacy add_prefix_space form), unk without fusing, Metaspace decoder.
vocab, merges = build(["<unk>", "<s>", "</s>"] + letters, sp_words)
write("metaspace_split.json", {
    "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
    "normalizer": None,
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
    "post_processor": None,
    "decoder": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
    "model": model(vocab, [[a, b] for a, b in merges], unk_token="<unk>", fuse_unk=False),
})

# 4. Normalizers and word splitting: NFKC, Lowercase, Strip, StripAccents (after NFD), Replace with
#    a regex, Prepend; Whitespace/Punctuation/Digits pre-tokenizers; BPE with
#    continuing_subword_prefix and end_of_word_suffix; normalized added tokens; RobertaProcessing;
#    BPEDecoder.
lower = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)] + list(".,!?'-#") + ["<unk>", "<cls>", "<sep>"]
suffix_words = [w + "</w>" for w in ["the", "and", "hello", "world", "token", "is", "a", "cafe"]]
vocab = {}
for t in lower:
    vocab.setdefault(t, len(vocab))
    vocab.setdefault("##" + t, len(vocab))
    vocab.setdefault(t + "</w>", len(vocab))
    vocab.setdefault("##" + t + "</w>", len(vocab))
merges = []
for w in ["the", "and", "hello", "world", "token", "is", "ing", "er"]:
    cur = w[0]
    for i, c in enumerate(w[1:], start=1):
        last = i == len(w) - 1
        right = "##" + c + ("</w>" if last else "")
        vocab.setdefault(right, len(vocab))
        new = cur + c + ("</w>" if last else "")
        merges.append((cur, right))
        vocab.setdefault(new, len(vocab))
        cur = new
n = len(vocab)
write("normalizers_words.json", {
    "added_tokens": [added(vocab["<unk>"], "<unk>"), added(vocab["<cls>"], "<cls>"), added(vocab["<sep>"], "<sep>"),
                     added(n, "new york", special=False, normalized=True),
                     added(n + 1, "[MASK]", special=True, normalized=False, lstrip=True)],
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "NFKD"}, {"type": "StripAccents"}, {"type": "NFKC"}, {"type": "Lowercase"},
        {"type": "Strip", "strip_left": True, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
        {"type": "Prepend", "prepend": "#"}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Whitespace"}, {"type": "Punctuation", "behavior": "Isolated"}, {"type": "Digits", "individual_digits": True}]},
    "post_processor": {"type": "RobertaProcessing", "sep": ["<sep>", vocab["<sep>"]], "cls": ["<cls>", vocab["<cls>"]],
                       "trim_offsets": True, "add_prefix_space": False},
    "decoder": {"type": "BPEDecoder", "suffix": "</w>"},
    "model": model(vocab, [a + " " + b for a, b in merges], unk_token="<unk>", fuse_unk=True,
                   continuing_subword_prefix="##", end_of_word_suffix="</w>"),
})

# 5. Split behaviors chained, on a byte-level vocabulary: each step changes where words begin, which
#    changes which merges apply.
vocab, merges = build(alphabet, words)
split = lambda pattern, behavior, invert=False: {"type": "Split", "pattern": pattern, "behavior": behavior, "invert": invert}
write("split_behaviors.json", {
    "added_tokens": [],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        split({"String": "\n"}, "Removed"),
        split({"Regex": "\\p{N}+"}, "MergedWithNext"),
        split({"String": " "}, "MergedWithPrevious"),
        split({"Regex": "[,;]"}, "Contiguous"),
        split({"Regex": "[.!?]+"}, "Isolated", True),
        {"type": "WhitespaceSplit"},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
    "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
    "model": model(vocab, [[a, b] for a, b in merges]),
})

# 6. Llama 3 style with ignore_merges and a Split regex that uses \w, \s and \d, plus a Sequence
#    post-processor and the BertProcessing template.
vocab, merges = build(alphabet, words)
n = len(vocab)
vocab["hello world"] = n  # unreachable through merges: only ignore_merges can emit it
vocab[byte_level("tokenizer")] = n + 1
write("ignore_merges_regex.json", {
    "added_tokens": [added(n + 2, "[CLS]"), added(n + 3, "[SEP]")],
    "normalizer": None,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\w+|\\d|[^\\w\\s]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    "post_processor": {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        {"type": "BertProcessing", "sep": ["[SEP]", n + 3], "cls": ["[CLS]", n + 2]}]},
    "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
    "model": model(vocab, [[a, b] for a, b in merges], ignore_merges=True),
})

# 7. Truncation (left, leaving room for the template's two ids) and padding (left, to a multiple
#    of 4) on the GPT-2 style file.
with open("gpt2_bytelevel.json", encoding="utf-8") as f:
    gpt2 = json.load(f)
gpt2["truncation"] = {"direction": "Left", "max_length": 9, "strategy": "LongestFirst", "stride": 0}
gpt2["padding"] = {"strategy": "BatchLongest", "direction": "Left", "pad_to_multiple_of": 4, "pad_id": 0,
                   "pad_type_id": 0, "pad_token": "!"}
write("truncation_padding.json", {k: v for k, v in gpt2.items() if k not in ("version",)})
