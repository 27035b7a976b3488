#!/usr/bin/python3
"""Golden outputs for vitrine's BERT encoder (src/nn/bert.c).

Builds a randomly initialised BERT model of a given shape with a fixed
seed and a small WordPiece vocabulary, writes it

  * in the Hugging Face layout: config.json, model.safetensors, vocab.txt
    or tokenizer.json, tokenizer_config.json and the sentence-transformers
    files that declare pooling and normalisation, and
  * as one GGUF file laid out as llama.cpp's converter writes BERT
    embedding models (tensor names, metadata keys, phantom-space vocabulary),

then tokenizes the sentences below with a reference tokenizer written here
from the Hugging Face BertNormalizer / BertPreTokenizer / WordPiece rules,
runs the forward pass in PyTorch (float32, padded batch with an additive
attention mask, as the Hugging Face implementation computes it) and writes
golden.json: per sentence the token ids, the pooled vector the model
declares, and the raw CLS vector.

Shapes:
  tiny       2 layers, hidden 48, 4 heads, FFN 96, 40 positions  (committed)
  minilm     6 layers, hidden 384, 12 heads, FFN 1536, 512 positions
  base       12 layers, hidden 768, 12 heads, FFN 3072, 512 positions
  tiny-xlmr  XLM-RoBERTa, 2 layers, hidden 48, 4 heads, FFN 96  (committed)
  xlmr-l12   XLM-RoBERTa, 12 layers, hidden 384, 12 heads, FFN 1536, 514
             positions (paraphrase-multilingual-MiniLM-L12-v2's shape)

The XLM-RoBERTa shapes have a Unigram vocabulary with scores and a
SentencePiece character map in tokenizer.json, and token ids from a
reference Unigram tokenizer written here (see main_xlmr). With
VITRINE_HF_TOKENIZERS set to a node_modules folder holding the npm package
"tokenizers" (Hugging Face's library), the ids are also checked against it.

Needs Debian's python3-torch and python3-numpy; nothing else (the
safetensors and GGUF writers are below).

Usage: make_golden.py SHAPE OUTDIR
"""
import base64
import collections
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import unicodedata

import numpy as np
import torch

# ---------------------------------------------------------------------------
# Vocabulary: specials, single characters, words, continuation pieces, CJK.
# Specials are not at BERT's usual ids, so nothing can rely on those.

SPECIALS = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789")
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["，", "。", "！", "？", "、", "：", "…", "«", "»", "¿"]
WORDS = """the a an and or of to in on for with is are was be this that it i you we
my your our not no yes very good bad best new old black white red blue green grey gray
brown dark light leather wood wooden metal glass fabric cotton oak steel soft hard small
large big little long short tall wide chair chairs sofa sofas table tables desk bed lamp
shelf rug mirror cabinet stool bench couch room living kitchen office garden home house
price cheap under over cm mm kg size colour color buy sell play un want need looking
cafe creme brulee naive resume istanbul hello world how what where when why who
modern classic simple nice great love like comfortable sturdy easy assemble delivery
fast slow two three four five ten hundred""".split()
CONT = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + [
    "##s", "##es", "##ed", "##ing", "##er", "##est", "##ly", "##able", "##aff", "##ness",
    "##ful", "##less", "##tion", "##room", "##ture", "##ni", "##fur",
]
CJK = list("沙发黑色真皮椅子桌的小客厅茶几适合白木质书架床灯柜子我想买一张舒服便宜好很大红蓝高低长宽米元以内厘")
EXTRA = ["ü", "ß", "σ", "ς", "α", "β", "ο", "δ"]

def vocabulary():
    seen, out = set(), []
    for t in SPECIALS + LETTERS + PUNCT + WORDS + CONT + CJK + EXTRA:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out

SENTENCES = [
    "",
    "   \t\n ",
    "a",
    "Black leather sofa",
    "BLACK Leather SOFA!!!",
    "Looking for a small oak table, under 500 cm?",
    "I want a comfortable chair for my living room.",
    "Modern grey fabric couch with wooden legs",
    "unaffable",
    "playing played plays player",
    "Café crème brûlée",
    "naïve résumé",
    "İstanbul",
    "ΟΔΟΣ",
    "Straße",
    "黑色真皮沙发",
    "适合小客厅的茶几",
    "我想买一张舒服的床",
    "白色木质书架，很便宜！",
    "宽2米，高80厘米",
    "500元以内的椅子",
    "black 真皮 sofa，very good",
    "Sofa沙发Chair椅子",
    "Hello... world?!",
    "(price) [size] {colour}",
    "a-b_c/d\\e",
    "3.14 kg",
    "“quoted” ‘text’ «guillemets» ¿qué?",
    "tab\tseparated\nlines\r\nhere",
    "zero\u200bwidth and soft\u00adhyphen",
    "control\x01chars\x7f here",
    "non\u00a0breaking\u2003spaces\u3000here",
    "line\u2028separator",
    "replacement \ufffd char",
    "emoji 😀 and ★ star",
    "привет мир",
    "ＡＢＣ full width",
    "x" * 120,
    "supercalifragilisticexpialidocious",
    "qwzxv",
    "I love this lamp, it is very nice and the delivery was fast.",
    "The desk is sturdy and easy to assemble; two people can do it in ten minutes.",
    "Kitchen stool, steel, black, 65 cm tall, wipe-clean seat.",
    " ".join(["long"] * 60),
    " ".join(["chair", "table", "lamp", "沙发", "茶几"] * 12),
    # over 256 tokens: attention runs in blocks of query rows on large shapes
    " ".join(["modern", "oak", "desk,", "黑色", "leather", "chairs"] * 50),
    "Café" * 30,
    "!!!???...",
    "。，、",
    "e\u0301cole",
    "A\u030a ring",
    "mixed CASE Words With Ünïcödé",
    "bed",
]

# ---------------------------------------------------------------------------
# Reference tokenizer (Hugging Face tokenizers' BertNormalizer,
# BertPreTokenizer and WordPiece model, character by character).

WHITE_SPACE = set([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029,
                   0x202F, 0x205F, 0x3000] + list(range(0x2000, 0x200B)))

def is_ws(c):
    return ord(c) in WHITE_SPACE

def is_other(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")

def is_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")

def is_cjk(c):
    cp = ord(c)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)

def tokenize(text, vocab, lowercase=True, max_len=512, max_chars=100):
    out = []
    for c in text:
        if ord(c) == 0 or ord(c) == 0xFFFD or is_other(c):
            continue
        out.append(" " if is_ws(c) else c)
    t = "".join(out)
    t = "".join(" " + c + " " if is_cjk(c) else c for c in t)
    if lowercase:  # strip_accents follows lowercase
        t = unicodedata.normalize("NFD", t)
        t = "".join(c for c in t if unicodedata.category(c) != "Mn")
        t = "".join(c.lower() for c in t)  # per character, as the reference does
    words, cur = [], ""
    for c in t:
        if is_ws(c) or is_punct(c):
            if cur:
                words.append(cur)
            cur = ""
            if is_punct(c):
                words.append(c)
        else:
            cur += c
    if cur:
        words.append(cur)
    pieces = []
    for w in words:
        if len(w) > max_chars:
            pieces.append(vocab["[UNK]"])
            continue
        start, sub, bad = 0, [], False
        while start < len(w):
            end, found = len(w), None
            while start < end:
                s = w[start:end]
                if start > 0:
                    s = "##" + s
                if s in vocab:
                    found = vocab[s]
                    break
                end -= 1
            if found is None:
                bad = True
                break
            sub.append(found)
            start = end
        pieces.extend([vocab["[UNK]"]] if bad else sub)
    return [vocab["[CLS]"]] + pieces[: max_len - 2] + [vocab["[SEP]"]]

# ---------------------------------------------------------------------------
# Model

SHAPES = {
    "tiny": dict(layers=2, hidden=48, heads=4, inter=96, positions=40, seed=1234,
                 weights="f16", pooling="mean", normalize=True, tokenizer="vocab.txt"),
    "minilm": dict(layers=6, hidden=384, heads=12, inter=1536, positions=512, seed=2024,
                   weights="f32", pooling="mean", normalize=True, tokenizer="tokenizer.json"),
    "base": dict(layers=12, hidden=768, heads=12, inter=3072, positions=512, seed=7,
                 weights="bf16", pooling="cls", normalize=False, tokenizer="vocab.txt"),
}

def make_weights(shape, vocab_size):
    """name -> float32 array, in Hugging Face BertModel naming. Scales keep
    activations near unit size so every layer matters to the output."""
    g = torch.Generator().manual_seed(shape["seed"])
    H, I = shape["hidden"], shape["inter"]

    def normal(*dims, std):
        return (torch.randn(*dims, generator=g) * std).float()

    w = {}
    w["embeddings.word_embeddings.weight"] = normal(vocab_size, H, std=1.0)
    w["embeddings.position_embeddings.weight"] = normal(shape["positions"], H, std=0.5)
    w["embeddings.token_type_embeddings.weight"] = normal(shape.get("types", 2), H, std=0.5)
    w["embeddings.LayerNorm.weight"] = 1.0 + normal(H, std=0.1)
    w["embeddings.LayerNorm.bias"] = normal(H, std=0.1)
    for i in range(shape["layers"]):
        p = "encoder.layer.%d." % i
        for n in ("query", "key", "value"):
            w[p + "attention.self.%s.weight" % n] = normal(H, H, std=1.5 / math.sqrt(H))
            w[p + "attention.self.%s.bias" % n] = normal(H, std=0.1)
        w[p + "attention.output.dense.weight"] = normal(H, H, std=1.0 / math.sqrt(H))
        w[p + "attention.output.dense.bias"] = normal(H, std=0.1)
        w[p + "attention.output.LayerNorm.weight"] = 1.0 + normal(H, std=0.1)
        w[p + "attention.output.LayerNorm.bias"] = normal(H, std=0.1)
        w[p + "intermediate.dense.weight"] = normal(I, H, std=1.0 / math.sqrt(H))
        w[p + "intermediate.dense.bias"] = normal(I, std=0.1)
        w[p + "output.dense.weight"] = normal(H, I, std=1.0 / math.sqrt(I))
        w[p + "output.dense.bias"] = normal(H, std=0.1)
        w[p + "output.LayerNorm.weight"] = 1.0 + normal(H, std=0.1)
        w[p + "output.LayerNorm.bias"] = normal(H, std=0.1)
    # Round to the storage type, so both files hold exactly what the
    # reference computes with.
    for k in w:
        if shape["weights"] == "f16":
            w[k] = w[k].half().float()
        elif shape["weights"] == "bf16":
            w[k] = w[k].bfloat16().float()
    return w

def forward(w, shape, batch_ids, eps=1e-12, pad_id=0, roberta=False):
    """Post-LN BERT in float32 over a padded batch with an additive mask.
    roberta: positions as XLM-RoBERTa numbers them (Hugging Face's
    create_position_ids_from_input_ids): pad_id + the running count of
    non-pad ids, and pad_id for a pad id."""
    H, nh = shape["hidden"], shape["heads"]
    d = H // nh
    B = len(batch_ids)
    L = max(len(x) for x in batch_ids)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    mask = torch.zeros(B, L)
    for b, x in enumerate(batch_ids):
        ids[b, : len(x)] = torch.tensor(x)
        mask[b, : len(x)] = 1
    F = torch.nn.functional
    if roberta:
        real = ids.ne(pad_id).long()
        pos = torch.cumsum(real, dim=1) * real + pad_id
        pe = w["embeddings.position_embeddings.weight"][pos]
    else:
        pe = w["embeddings.position_embeddings.weight"][:L][None]
    x = (w["embeddings.word_embeddings.weight"][ids] + pe
         + w["embeddings.token_type_embeddings.weight"][0][None, None])
    x = F.layer_norm(x, (H,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    add_mask = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
    for i in range(shape["layers"]):
        p = "encoder.layer.%d." % i

        def lin(t, n):
            return F.linear(t, w[p + n + ".weight"], w[p + n + ".bias"])

        def heads(t):
            return t.view(B, L, nh, d).transpose(1, 2)

        q = heads(lin(x, "attention.self.query"))
        k = heads(lin(x, "attention.self.key"))
        v = heads(lin(x, "attention.self.value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + add_mask
        ctx = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, L, H)
        a = F.layer_norm(lin(ctx, "attention.output.dense") + x, (H,),
                         w[p + "attention.output.LayerNorm.weight"],
                         w[p + "attention.output.LayerNorm.bias"], eps)
        f = lin(F.gelu(lin(a, "intermediate.dense")), "output.dense")
        x = F.layer_norm(f + a, (H,), w[p + "output.LayerNorm.weight"],
                         w[p + "output.LayerNorm.bias"], eps)
    cls = x[:, 0]
    mean = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)
    return cls, mean

# ---------------------------------------------------------------------------
# safetensors: u64 header length, JSON header, raw little-endian data.

def write_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)

def st_array(t, kind):
    if kind == "f32":
        return "F32", t.numpy().astype("<f4")
    if kind == "f16":
        return "F16", t.numpy().astype("<f2")
    # bfloat16: the upper half of each float32
    bits = t.numpy().astype("<f4").view("<u4")
    return "BF16", (bits >> 16).astype("<u2")

# ---------------------------------------------------------------------------
# GGUF v3 (little-endian).

GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, \
    GGUF_STRING, GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64 = range(13)
GGML_F32, GGML_F16, GGML_BF16 = 0, 1, 30

def gguf_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b

def gguf_value(vtype, v):
    if vtype == GGUF_STRING:
        return gguf_str(v)
    if vtype == GGUF_ARRAY:
        etype, items = v
        out = struct.pack("<IQ", etype, len(items))
        return out + b"".join(gguf_value(etype, x) for x in items)
    fmt = {GGUF_U8: "<B", GGUF_I8: "<b", GGUF_U16: "<H", GGUF_I16: "<h", GGUF_U32: "<I",
           GGUF_I32: "<i", GGUF_F32: "<f", GGUF_BOOL: "<?", GGUF_U64: "<Q", GGUF_I64: "<q",
           GGUF_F64: "<d"}[vtype]
    return struct.pack(fmt, v)

def write_gguf(path, kvs, tensors, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ggml_type, bytes, shape)]
    with shape in PyTorch order (the file stores it reversed, ne[0] first)."""
    out = bytearray(b"GGUF")
    out += struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gguf_str(k) + struct.pack("<I", t) + gguf_value(t, v)
    off = 0
    offsets = []
    for name, gtype, raw, shape in tensors:
        offsets.append(off)
        ne = list(reversed(shape))
        out += gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", gtype, off)
        off += len(raw)
        off += -off % alignment
    out += b"\0" * (-len(out) % alignment)
    for (name, gtype, raw, shape), o in zip(tensors, offsets):
        out += raw
        out += b"\0" * (-len(raw) % alignment)
    with open(path, "wb") as f:
        f.write(out)

HF_TO_GGUF = [
    ("embeddings.word_embeddings.weight", "token_embd.weight"),
    ("embeddings.position_embeddings.weight", "position_embd.weight"),
    ("embeddings.token_type_embeddings.weight", "token_types.weight"),
    ("embeddings.LayerNorm.weight", "token_embd_norm.weight"),
    ("embeddings.LayerNorm.bias", "token_embd_norm.bias"),
]
HF_TO_GGUF_LAYER = [
    ("attention.self.query", "attn_q"), ("attention.self.key", "attn_k"),
    ("attention.self.value", "attn_v"), ("attention.output.dense", "attn_output"),
    ("attention.output.LayerNorm", "attn_output_norm"), ("intermediate.dense", "ffn_up"),
    ("output.dense", "ffn_down"), ("output.LayerNorm", "layer_output_norm"),
]

def gguf_tensors(w, shape):
    names = list(HF_TO_GGUF)
    for i in range(shape["layers"]):
        for hf, gg in HF_TO_GGUF_LAYER:
            for suffix in ("weight", "bias"):
                names.append(("encoder.layer.%d.%s.%s" % (i, hf, suffix), "blk.%d.%s.%s" % (i, gg, suffix)))
    out = []
    for hf, gg in names:
        t = w[hf]
        a = t.numpy().astype("<f4")
        # as the converter does: matrices in the chosen type, vectors in F32
        if t.dim() == 2 and shape["weights"] == "f16":
            out.append((gg, GGML_F16, a.astype("<f2").tobytes(), list(a.shape)))
        elif t.dim() == 2 and shape["weights"] == "bf16":
            out.append((gg, GGML_BF16, (a.view("<u4") >> 16).astype("<u2").tobytes(), list(a.shape)))
        else:
            out.append((gg, GGML_F32, a.tobytes(), list(a.shape)))
    return out

def phantom(tok):
    """llama.cpp's rewrite of a WordPiece vocabulary."""
    if tok.startswith("[") and tok.endswith("]"):
        return tok
    if tok.startswith("##"):
        return tok[2:]
    return "\u2581" + tok

# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# XLM-RoBERTa (paraphrase-multilingual-MiniLM and the like): a SentencePiece
# Unigram vocabulary with scores in tokenizer.json, the precompiled
# character map of its normalizer, RoBERTa positions (from pad_id + 1), one
# token type, LayerNorm epsilon 1e-5.
#
# The character map is built here from Python's own NFKC tables (a few
# hundred characters for the committed tiny model, every character of
# Unicode for the L12 shape) and written in SentencePiece's format: a
# little-endian u32 trie size, a darts-clone double array of u32 units,
# then NUL-terminated replacement strings. The reference normaliser below
# applies the map from a Python dict, not from the trie, so a wrong trie
# shows up as a mismatch.

SP = "\u2581"
XLMR_SHAPES = {
    "tiny-xlmr": dict(layers=2, hidden=48, heads=4, inter=96, positions=42, seed=4321,
                      weights="f16", types=1, max_seq=40, charsmap="tiny"),
    "xlmr-l12": dict(layers=12, hidden=384, heads=12, inter=1536, positions=514, seed=2025,
                     weights="f32", types=1, max_seq=128, charsmap="full"),
}

XLMR_WORDS = """black white red blue green grey brown dark light leather sofa sofas chair chairs
table tables lamp desk bed room living small large big modern wooden wood oak metal glass
the a an for with and of in on to is are very good nice cheap price under over cm kg i want
looking comfortable sturdy easy delivery fast this that it my new old two three ten
Black White The I Sofa Chair Table Looking Modern Kitchen Hello world
canapé cuir noir noire chaise lampe bureau salon petit petite grand pas cher prix moins de
le la les un une et avec pour très bois blanc café crème brûlée naïve résumé école
Leder schwarz Stuhl Tisch klein groß günstig mit für und der die das Straße weiß
sofá cuero negro silla mesa barato con para muy qué
диван кожаный черный стул стол дешево привет мир""".split()
XLMR_SUB = ["s", "es", "ed", "ing", "er", "ly", "able", "aff", "un", "ness", "tion", "ment",
            "ière", "ung", "chen", "ит", "ый", "ая"]
XLMR_CJK = ["沙发", "黑色", "真皮", "茶几", "客厅", "椅子", "适合", "舒服", "便宜", "书架",
            "木质", "白色", "桌子", "以内", "厘米", "我想", "一张"]
XLMR_CHARS = (list("abcdefghijklmnopqrstuvwxyz") + list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
              + list("0123456789") + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
              + list("éèêàâçüöäßñíóúîôûëïÅåÉ¿¡«»“”‘’…·")
              + list("приветмдвнкожаыйчрсулбшео")
              + list("沙发黑色真皮椅子桌的小客厅茶几适合白木质书架床灯柜我想买一张舒服便宜好很大红蓝高低长宽米元以内厘")
              + list("ソファテーブルのがはです安い黒革")
              + list("소파의자가죽검은색"))
XLMR_MORE = [SP + "沙发", SP + "黑色", SP + "我想", SP + "适合", SP + "白色", SP + "500",
             "ソファ", "テーブル", SP + "ソファ", SP + "소파", "소파", SP + "의자", "가죽",
             SP + "검은색", SP + "un", SP + "una", "ffable", SP + "play", "500", "80", "42", SP + "2",
             "..", "...", SP + "(", SP + "\"", SP + "«", SP + "-", SP + "vitrine", ".com"]

def f32_exact(x):
    """A score that float32 holds exactly (GGUF stores F32 scores)."""
    return round(x * 1024) / 1024

def xlmr_vocabulary(seed):
    """[(piece, score)] in id order: <s> <pad> </s> <unk>, pieces, <mask>."""
    rng = random.Random(seed)
    out, seen = [], set()

    def add(p, score):
        if p not in seen:
            seen.add(p)
            out.append((p, f32_exact(score)))

    for t in ["<s>", "<pad>", "</s>", "<unk>"]:
        add(t, 0.0)
    add(SP, -3.0)
    for w in XLMR_WORDS:
        add(SP + w, -5.5 - 0.25 * len(w) - 2.0 * rng.random())
    for w in XLMR_CJK:
        add(w, -6.0 - 2.0 * rng.random())
    for p in XLMR_MORE:
        add(p, -6.5 - 2.5 * rng.random())
    for p in XLMR_SUB:
        add(p, -7.0 - 2.0 * rng.random())
    for c in XLMR_CHARS:
        if c.isalnum() and rng.random() < 0.3:
            add(SP + c, -8.5 - 1.5 * rng.random())
        add(c, -9.0 - 2.0 * rng.random())
    out.append(("<mask>", 0.0))
    return out

XLMR_SENTENCES = [
    "",
    "   ",
    "a",
    "Black leather sofa",
    "black leather sofa, very cheap!",
    "Looking for a small oak table under 500 cm?",
    "I want a comfortable chair for my living room.",
    "canapé en cuir noir, très bon prix",
    "Café crème brûlée",
    "naïve résumé école",
    "e\u0301cole cafe\u0301 A\u030a",                 # decomposed accents, composed by the map
    "Ａ\u0301 and Ａ\u0301\u0301",                     # a cluster under 6 bytes goes whole; over, per character
    "Schwarzes Ledersofa, günstig, groß und weiß",
    "Straße",
    "sofá de cuero negro, ¿qué precio?",
    "кожаный диван черный, дешево",
    "привет мир",
    "黑色真皮沙发",
    "适合小客厅的茶几",
    "我想买一张舒服的床",
    "白色木质书架，很便宜！",
    "宽2米，高80厘米",
    "500元以内的椅子",
    "black 真皮 sofa，very good",
    "Sofa沙发Chair椅子",
    "黒い革のソファが安いです",
    "검은색 가죽 소파",
    "ＡＢＣ full width ｓｏｆａ １２３",
    "ﬁne ﬂat ① ② ㎏ ㎝ ½ ™ Ⅻ",
    "ｶﾞｿﾘﾝ halfwidth",
    "tab\tseparated\nlines\r\nhere",
    "  leading and trailing spaces  ",
    "many     spaces   inside",
    "non\u00a0breaking\u2003spaces\u3000here",
    "zero\u200bwidth and soft\u00adhyphen",
    "emoji 😀😀 and ★ star 👍🏽 🇨🇳 👩\u200d👩\u200d👧",
    "مرحبا بالعالم",
    "unaffable playing",
    "qwzxv",
    "Hello... world?!",
    "(price) [size] {colour} «quotes» “curly” ‘single’",
    "a-b_c/d\\e 3.14 kg",
    "x" * 120,
    " ".join(["long"] * 60),
    " ".join(["chair", "table", "lamp", "沙发", "茶几"] * 12),
    "hello <s> world </s> again",
    "<s>",
    "a <mask> b",
    "<unk> inside",
    "mixed CASE Words With Ünïcödé",
    "bed",
]
# A literal <pad> takes RoBERTa position pad_id; GGUF files number
# positions from 0, so this case is compared for the Hugging Face folder only.
XLMR_PAD_SENTENCES = ["sofa <pad> chair"]

# ---- Unicode helpers for the reference ----

def grapheme_clusters(text):
    """Extended grapheme clusters, from the rules of UAX #29 that matter for
    these texts: CR LF, controls, Hangul syllable sequences, Extend
    (nonspacing and enclosing marks, ZWJ, emoji modifiers, the halfwidth
    voiced marks), SpacingMark, regional-indicator pairs and emoji ZWJ
    sequences."""
    def kind(c):
        cp = ord(c)
        cat = unicodedata.category(c)
        if c == "\r":
            return "CR"
        if c == "\n":
            return "LF"
        if cp == 0x200D:
            return "ZWJ"
        if cat in ("Mn", "Me") or 0x1F3FB <= cp <= 0x1F3FF or cp in (0xFF9E, 0xFF9F, 0x200C):
            return "Extend"
        if cat in ("Cc", "Zl", "Zp") or (cat == "Cf" and cp != 0x200C):
            return "Control"
        if 0x1F1E6 <= cp <= 0x1F1FF:
            return "RI"
        if cat == "Mc":
            return "SpacingMark"
        if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
            return "L"
        if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
            return "V"
        if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
            return "T"
        if 0xAC00 <= cp <= 0xD7A3:
            return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
        if cat == "So" and (0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF):
            return "Pict"
        return "Other"

    out = []
    prev = None
    ri_run = 0
    in_pict = False       # the cluster so far ends with an emoji and Extend*
    zwj_after_pict = False
    for c in text:
        k = kind(c)
        join = False
        if prev is not None:
            if prev == "CR" and k == "LF":
                join = True
            elif prev in ("CR", "LF", "Control") or k in ("CR", "LF", "Control"):
                join = False
            elif prev == "L" and k in ("L", "V", "LV", "LVT"):
                join = True
            elif prev in ("LV", "V") and k in ("V", "T"):
                join = True
            elif prev in ("LVT", "T") and k == "T":
                join = True
            elif k in ("Extend", "ZWJ", "SpacingMark"):
                join = True
            elif prev == "ZWJ" and k == "Pict" and zwj_after_pict:
                join = True
            elif prev == "RI" and k == "RI" and ri_run % 2 == 1:
                join = True
        if join:
            out[-1] += c
        else:
            out.append(c)
        ri_run = ri_run + 1 if k == "RI" else 0
        if k == "Pict":
            in_pict = True
        elif k == "ZWJ":
            zwj_after_pict, in_pict = in_pict, False
        elif k != "Extend":
            in_pict = False
        prev = k
    return out

def is_ws_str(c):
    return ord(c) in WHITE_SPACE

# ---- the character map ----

def tiny_charsmap():
    m = {}
    cps = (list(range(0xFF01, 0xFF5F)) + list(range(0xFF61, 0xFFA0)) + [0x3000, 0xA0]
           + list(range(0x2002, 0x200B)) + list(range(0xFB00, 0xFB07))
           + [0xB9, 0xB2, 0xB3, 0xBD, 0xBC, 0x2122, 0x216B, 0x2026, 0x338F, 0x339D, 0x33A1, 0xF900]
           + list(range(0x2460, 0x246A)))
    for cp in cps:
        c = chr(cp)
        n = unicodedata.normalize("NFKC", c)
        if n != c:
            m[c] = n
    for base, mark in [("e", "\u0301"), ("a", "\u0300"), ("u", "\u0308"), ("o", "\u0308"),
                       ("n", "\u0303"), ("c", "\u0327"), ("A", "\u030a"), ("E", "\u0301")]:
        m[base + mark] = unicodedata.normalize("NFC", base + mark)
    for c in "\t\n\r":
        m[c] = " "
    for c in "\u200b\ufeff\u00ad":
        m[c] = ""
    return m

def full_charsmap():
    """NFKC of every character that it changes, plus the canonical
    decomposition of each character mapped to its NFKC form (so decomposed
    text composes), as SentencePiece's nmt_nfkc map is made."""
    m = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        n = unicodedata.normalize("NFKC", c)
        if n != c:
            m[c] = n
        d = unicodedata.normalize("NFD", c)
        if len(d) > 1 and d not in m:
            m[d] = n
    for c in "\t\n\r":
        m[c] = " "
    for c in "\u200b\ufeff\u00ad":
        m[c] = ""
    return m

def build_charsmap(mapping):
    """SentencePiece's precompiled map: u32 trie bytes, darts-clone units,
    replacement strings. Every node gets a base (XOR offset) of its own,
    so a child found at base ^ label with that label belongs to it."""
    blob, offs = bytearray(), {}
    for v in sorted(set(mapping.values())):
        offs[v] = len(blob)
        blob += v.encode("utf-8") + b"\0"
    root = {}
    for k, v in mapping.items():
        node = root
        for byte in k.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = offs[v]
    units = {0: 0}
    used, bases = {0}, set()
    free = 1
    queue = collections.deque([(root, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = sorted(k for k in node if k is not None)
        need = ([0] if None in node else []) + labels
        while free in used:
            free += 1
        f = free
        while True:
            if f not in used:
                b = f ^ need[0]
                if b and b not in bases and all((b ^ c) not in used for c in need):
                    break
            f += 1
        bases.add(b)
        for c in need:
            used.add(b ^ c)
        off = pos ^ b
        assert off < (1 << 21)
        units[pos] = units.get(pos, 0) | off << 10 | (1 << 8 if None in node else 0)
        if None in node:
            units[b] = 0x80000000 | node[None]
        for c in labels:
            units[b ^ c] = c
            queue.append((node[c], b ^ c))
    n = max(units) + 1
    arr = np.zeros(n, dtype="<u4")
    for p, u in units.items():
        arr[p] = u
    return struct.pack("<I", 4 * n) + arr.tobytes() + bytes(blob)

# ---- the reference tokenizer (Hugging Face tokenizers' semantics) ----

class XlmrReference:
    def __init__(self, vocab, charsmap, added, max_len):
        self.ids = {}
        for i, (p, _) in enumerate(vocab):
            self.ids[p] = i                      # a repeated piece keeps its last id
        self.scores = [s for _, s in vocab]
        self.min_score = min(self.scores)
        self.maxlen = max(len(p) for p, _ in vocab)
        self.map = charsmap
        self.added = added                       # [(content, id, lstrip, rstrip)]
        self.max_len = max_len
        self.unk = 3

    def precompiled(self, text):
        out = []
        for g in grapheme_clusters(text):
            if len(g.encode("utf-8")) < 6:
                hit = next((self.map[g[:k]] for k in range(1, len(g) + 1) if g[:k] in self.map), None)
                if hit is not None:
                    out.append(hit)
                    continue
            out.extend(self.map.get(c, c) for c in g)
        return "".join(out)

    def normalize(self, text):
        t = self.precompiled(text)
        while t and is_ws_str(t[-1]):            # Strip (right)
            t = t[:-1]
        return re.sub(" {2,}", SP, t)            # Replace / {2,}/ by ▁

    def pre_tokenize(self, t):
        t = t.replace(" ", SP)
        if t and not t.startswith(SP):           # Metaspace, prepend "always"
            t = SP + t
        words, cur = [], ""
        for c in t:                              # split, merged with next
            if c == SP and cur:
                words.append(cur)
                cur = ""
            cur += c
        if cur:
            words.append(cur)
        return words

    def viterbi(self, w):
        n = len(w)
        best = [None] * (n + 1)                  # (score, start, id)
        best[0] = (0.0, 0, -1)
        unk_score = self.min_score - 10.0
        for start in range(n):
            base = best[start][0]
            single = False
            for end in range(start + 1, min(n, start + self.maxlen) + 1):
                pid = self.ids.get(w[start:end])
                if pid is None:
                    continue
                cand = base + self.scores[pid]
                if best[end] is None or cand > best[end][0]:
                    best[end] = (cand, start, pid)
                if end == start + 1:
                    single = True
            if not single:
                cand = base + unk_score
                if best[start + 1] is None or cand > best[start + 1][0]:
                    best[start + 1] = (cand, start, self.unk)
        out, end = [], n
        while end > 0:
            _, start, pid = best[end]
            if not (pid == self.unk and out and out[-1] == self.unk):
                out.append(pid)
            end = start
        return out[::-1]

    def encode(self, text):
        pieces = []
        done = scan = 0
        while True:
            hit = None
            for i in range(scan, len(text)):
                cands = [a for a in self.added if text.startswith(a[0], i)]
                if cands:
                    hit = (i, max(cands, key=lambda a: len(a[0])))
                    break
            if hit is None:
                break
            i, (content, tid, lstrip, rstrip) = hit
            ms, me = i, i + len(content)
            if lstrip:
                while ms > done and is_ws_str(text[ms - 1]):
                    ms -= 1
            if rstrip:
                while me < len(text) and is_ws_str(text[me]):
                    me += 1
            scan = me
            if ms > done:
                pieces += self.text_ids(text[done:ms])
            pieces.append(tid)
            done = me
        if done < len(text):
            pieces += self.text_ids(text[done:])
        return [0] + pieces[: self.max_len - 2] + [2]

    def text_ids(self, text):
        out = []
        for w in self.pre_tokenize(self.normalize(text)):
            out += self.viterbi(w)
        return out

def xlmr_tokenizer_json(vocab, charsmap_bytes, mask_id):
    added = [{"id": i, "content": t, "single_word": False, "lstrip": t == "<mask>",
              "rstrip": False, "normalized": False, "special": True}
             for i, t in [(0, "<s>"), (1, "<pad>"), (2, "</s>"), (3, "<unk>"), (mask_id, "<mask>")]]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled",
             "precompiled_charsmap": base64.b64encode(charsmap_bytes).decode("ascii")},
            {"type": "Strip", "strip_left": False, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": SP}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": SP, "prepend_scheme": "always",
                          "split": True},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 0}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "special_tokens": {
                               "<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                               "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
        "decoder": {"type": "Metaspace", "replacement": SP, "prepend_scheme": "always",
                    "split": True},
        "model": {"type": "Unigram", "unk_id": 3, "byte_fallback": False,
                  "vocab": [[p, s] for p, s in vocab]},
    }

def check_with_hf_tokenizers(tokenizer_json_path, texts, ids, max_len):
    """Optional: the same ids from Hugging Face's own tokenizers library (its
    Node.js binding, npm package "tokenizers"), when VITRINE_HF_TOKENIZERS
    names a node_modules folder that has it."""
    mods = os.environ.get("VITRINE_HF_TOKENIZERS")
    if not mods:
        return
    script = ("const {Tokenizer}=require(process.argv[1]+'/tokenizers');"
              "const t=Tokenizer.fromFile(process.argv[2]);"
              "const texts=JSON.parse(require('fs').readFileSync(0,'utf8'));"
              "(async()=>{const out=[];for(const s of texts){const e=await t.encode(s);"
              "out.push(Array.from(e.getIds()));}console.log(JSON.stringify(out));})();")
    r = subprocess.run(["node", "-e", script, mods, tokenizer_json_path],
                       input=json.dumps(texts), capture_output=True, text=True, check=True)
    # the file sets no truncation: cut theirs as sentence-transformers would
    theirs = [b if len(b) <= max_len else b[: max_len - 1] + [2] for b in json.loads(r.stdout)]
    bad = [(t, a, b) for t, a, b in zip(texts, ids, theirs) if a != b]
    for t, a, b in bad:
        print("  HF tokenizers differs on %r:\n    ours   %s\n    theirs %s" % (t, a, b))
    print("hf tokenizers check: %d texts, %d differ" % (len(texts), len(bad)))
    if bad:
        sys.exit(1)

def main_xlmr(name, outdir):
    shape = XLMR_SHAPES[name]
    torch.set_num_threads(2)
    vocab = xlmr_vocabulary(shape["seed"])
    mask_id = len(vocab) - 1
    V = len(vocab)
    cmap = tiny_charsmap() if shape["charsmap"] == "tiny" else full_charsmap()
    cm_bytes = build_charsmap(cmap)
    hf = os.path.join(outdir, "hf")
    os.makedirs(os.path.join(hf, "1_Pooling"), exist_ok=True)
    w = make_weights(shape, V)

    config = {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta", "hidden_act": "gelu",
        "hidden_size": shape["hidden"], "num_hidden_layers": shape["layers"],
        "num_attention_heads": shape["heads"], "intermediate_size": shape["inter"],
        "max_position_embeddings": shape["positions"], "type_vocab_size": 1,
        "layer_norm_eps": 1e-5, "vocab_size": V, "position_embedding_type": "absolute",
        "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "initializer_range": 0.02,
    }
    with open(os.path.join(hf, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    tensors = {k: st_array(t, shape["weights"]) for k, t in w.items()}
    write_safetensors(os.path.join(hf, "model.safetensors"), tensors, {"format": "pt"})
    tj_path = os.path.join(hf, "tokenizer.json")
    with open(tj_path, "w", encoding="utf-8") as f:
        json.dump(xlmr_tokenizer_json(vocab, cm_bytes, mask_id), f, ensure_ascii=False)
    with open(os.path.join(hf, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": shape["positions"] - 2, "bos_token": "<s>",
                   "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                   "mask_token": "<mask>", "tokenizer_class": "XLMRobertaTokenizer"}, f)
    with open(os.path.join(hf, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": shape["max_seq"], "do_lower_case": False}, f)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    with open(os.path.join(hf, "modules.json"), "w") as f:
        json.dump(modules, f, indent=2)
    with open(os.path.join(hf, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": shape["hidden"], "pooling_mode_cls_token": False,
                   "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
                   "pooling_mode_mean_sqrt_len_tokens": False}, f, indent=2)
    with open(os.path.join(hf, "README.md"), "w") as f:
        f.write("---\nlicense: apache-2.0\n---\nRandomly initialised XLM-RoBERTa (%s shape) for tests.\n" % name)

    # GGUF as llama.cpp's converter writes XLM-RoBERTa: architecture "bert",
    # a SentencePiece ("t5") vocabulary, and the position table cut to start
    # at pad_id + 1 so that positions count from 0.
    types = [3, 3, 3, 2] + [1] * (V - 5) + [3]
    offset = config["pad_token_id"] + 1
    wg = dict(w)
    wg["embeddings.position_embeddings.weight"] = w["embeddings.position_embeddings.weight"][offset:]
    kvs = [
        ("general.architecture", GGUF_STRING, "bert"),
        ("general.name", GGUF_STRING, "vitrine-test-" + name),
        ("general.license", GGUF_STRING, "apache-2.0"),
        ("bert.context_length", GGUF_U32, shape["positions"] - offset),
        ("bert.embedding_length", GGUF_U32, shape["hidden"]),
        ("bert.feed_forward_length", GGUF_U32, shape["inter"]),
        ("bert.attention.head_count", GGUF_U32, shape["heads"]),
        ("bert.attention.layer_norm_epsilon", GGUF_F32, 1e-5),
        ("bert.block_count", GGUF_U32, shape["layers"]),
        ("bert.attention.causal", GGUF_BOOL, False),
        ("bert.pooling_type", GGUF_U32, 1),
        ("tokenizer.ggml.model", GGUF_STRING, "t5"),
        ("tokenizer.ggml.pre", GGUF_STRING, "default"),
        ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, [p for p, _ in vocab])),
        ("tokenizer.ggml.scores", GGUF_ARRAY, (GGUF_F32, [s for _, s in vocab])),
        ("tokenizer.ggml.token_type", GGUF_ARRAY, (GGUF_I32, types)),
        ("tokenizer.ggml.add_space_prefix", GGUF_BOOL, True),
        ("tokenizer.ggml.token_type_count", GGUF_U32, 1),
        ("tokenizer.ggml.remove_extra_whitespaces", GGUF_BOOL, True),
        ("tokenizer.ggml.precompiled_charsmap", GGUF_ARRAY, (GGUF_U8, list(cm_bytes))),
        ("tokenizer.ggml.bos_token_id", GGUF_U32, 0),
        ("tokenizer.ggml.eos_token_id", GGUF_U32, 2),
        ("tokenizer.ggml.unknown_token_id", GGUF_U32, 3),
        ("tokenizer.ggml.seperator_token_id", GGUF_U32, 2),
        ("tokenizer.ggml.padding_token_id", GGUF_U32, 1),
        ("tokenizer.ggml.cls_token_id", GGUF_U32, 0),
        ("tokenizer.ggml.mask_token_id", GGUF_U32, mask_id),
        ("tokenizer.ggml.add_bos_token", GGUF_BOOL, True),
        ("tokenizer.ggml.add_eos_token", GGUF_BOOL, True),
        ("vitrine.max_tokens", GGUF_U32, shape["max_seq"]),
    ]
    write_gguf(os.path.join(outdir, "model.gguf"), kvs, gguf_tensors(wg, shape))

    added = [("<s>", 0, False, False), ("<pad>", 1, False, False), ("</s>", 2, False, False),
             ("<unk>", 3, False, False), ("<mask>", mask_id, True, False)]
    ref = XlmrReference(vocab, cmap, added, shape["max_seq"])
    texts = XLMR_SENTENCES + (XLMR_PAD_SENTENCES if name == "tiny-xlmr" else [])
    ids = [ref.encode(t) for t in texts]
    check_with_hf_tokenizers(tj_path, texts, ids, shape["max_seq"])
    cases = []
    with torch.no_grad():
        for b in range(0, len(ids), 16):
            cls, mean = forward(w, shape, ids[b:b + 16], eps=1e-5, pad_id=1, roberta=True)
            pooled = torch.nn.functional.normalize(mean, dim=-1)
            for j in range(cls.shape[0]):
                cases.append({
                    "text": texts[b + j],
                    "ids": ids[b + j],
                    "embedding": [float("%.9g" % v) for v in pooled[j].tolist()],
                    "cls": [float("%.9g" % v) for v in cls[j].tolist()],
                })
    golden = {
        "shape": name, "layers": shape["layers"], "hidden": shape["hidden"],
        "heads": shape["heads"], "intermediate": shape["inter"],
        "positions": shape["positions"], "vocab_size": V, "weights": shape["weights"],
        "pooling": "mean", "normalize": True, "max_tokens": shape["max_seq"],
        "charsmap_entries": len(cmap), "torch": torch.__version__, "cases": cases,
    }
    with open(os.path.join(outdir, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("%s: %d sentences, vocab %d, character map of %d entries (%d bytes), written to %s"
          % (name, len(cases), V, len(cmap), len(cm_bytes), outdir))

def main():
    if len(sys.argv) != 3 or sys.argv[1] not in list(SHAPES) + list(XLMR_SHAPES):
        sys.exit("usage: make_golden.py {%s} OUTDIR" % ",".join(list(SHAPES) + list(XLMR_SHAPES)))
    name, outdir = sys.argv[1], sys.argv[2]
    if name in XLMR_SHAPES:
        return main_xlmr(name, outdir)
    shape = SHAPES[name]
    torch.set_num_threads(2)
    vocab_list = vocabulary()
    vocab = {t: i for i, t in enumerate(vocab_list)}
    V = len(vocab_list)
    hf = os.path.join(outdir, "hf")
    os.makedirs(os.path.join(hf, "1_Pooling"), exist_ok=True)
    w = make_weights(shape, V)

    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": shape["hidden"], "num_hidden_layers": shape["layers"],
        "num_attention_heads": shape["heads"], "intermediate_size": shape["inter"],
        "max_position_embeddings": shape["positions"], "type_vocab_size": 2,
        "layer_norm_eps": 1e-12, "vocab_size": V, "position_embedding_type": "absolute",
        "initializer_range": 0.02, "pad_token_id": 0,
    }
    with open(os.path.join(hf, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    tensors = {}
    for k, t in w.items():
        tensors[k] = st_array(t, shape["weights"])
    # older checkpoints carry this integer buffer; the reader must skip it
    tensors["embeddings.position_ids"] = ("I64", np.arange(shape["positions"], dtype="<i8")[None])
    write_safetensors(os.path.join(hf, "model.safetensors"), tensors, {"format": "pt"})
    if shape["tokenizer"] == "vocab.txt":
        with open(os.path.join(hf, "vocab.txt"), "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in vocab_list))
    else:
        tj = {
            "version": "1.0",
            "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                           "strip_accents": None, "lowercase": True},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "TemplateProcessing",
                               "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                          {"Sequence": {"id": "A", "type_id": 0}},
                                          {"SpecialToken": {"id": "[SEP]", "type_id": 0}}]},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab},
        }
        with open(os.path.join(hf, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
    with open(os.path.join(hf, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": shape["positions"]}, f)
    with open(os.path.join(hf, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": shape["positions"], "do_lower_case": False}, f)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if shape["normalize"]:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    with open(os.path.join(hf, "modules.json"), "w") as f:
        json.dump(modules, f, indent=2)
    with open(os.path.join(hf, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": shape["hidden"],
                   "pooling_mode_cls_token": shape["pooling"] == "cls",
                   "pooling_mode_mean_tokens": shape["pooling"] == "mean",
                   "pooling_mode_max_tokens": False,
                   "pooling_mode_mean_sqrt_len_tokens": False}, f, indent=2)
    with open(os.path.join(hf, "README.md"), "w") as f:
        f.write("---\nlicense: apache-2.0\n---\nRandomly initialised BERT (%s shape) for tests.\n" % name)

    tokens = [phantom(t) for t in vocab_list]
    kvs = [
        ("general.architecture", GGUF_STRING, "bert"),
        ("general.name", GGUF_STRING, "vitrine-test-" + name),
        ("general.license", GGUF_STRING, "apache-2.0"),
        ("bert.context_length", GGUF_U32, shape["positions"]),
        ("bert.embedding_length", GGUF_U32, shape["hidden"]),
        ("bert.feed_forward_length", GGUF_U32, shape["inter"]),
        ("bert.attention.head_count", GGUF_U32, shape["heads"]),
        ("bert.attention.layer_norm_epsilon", GGUF_F32, 1e-12),
        ("bert.block_count", GGUF_U32, shape["layers"]),
        ("bert.attention.causal", GGUF_BOOL, False),
        ("bert.pooling_type", GGUF_U32, {"mean": 1, "cls": 2}[shape["pooling"]]),
        ("tokenizer.ggml.model", GGUF_STRING, "bert"),
        ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, tokens)),
        ("tokenizer.ggml.token_type", GGUF_ARRAY,
         (GGUF_I32, [3 if t.startswith("[") and t.endswith("]") else 1 for t in vocab_list])),
        ("tokenizer.ggml.token_type_count", GGUF_U32, 2),
        ("tokenizer.ggml.unknown_token_id", GGUF_U32, vocab["[UNK]"]),
        ("tokenizer.ggml.seperator_token_id", GGUF_U32, vocab["[SEP]"]),
        ("tokenizer.ggml.padding_token_id", GGUF_U32, vocab["[PAD]"]),
        ("tokenizer.ggml.cls_token_id", GGUF_U32, vocab["[CLS]"]),
        ("tokenizer.ggml.mask_token_id", GGUF_U32, vocab["[MASK]"]),
    ]
    if not shape["normalize"]:
        kvs.append(("vitrine.normalize", GGUF_BOOL, False))
    alignment = 32 if name == "tiny" else 64
    if alignment != 32:
        kvs.append(("general.alignment", GGUF_U32, alignment))
    write_gguf(os.path.join(outdir, "model.gguf"), kvs, gguf_tensors(w, shape), alignment)

    cases = []
    ids = [tokenize(s, vocab, True, shape["positions"]) for s in SENTENCES]
    with torch.no_grad():
        for b in range(0, len(ids), 16):
            cls, mean = forward(w, shape, ids[b:b + 16])
            pooled = cls if shape["pooling"] == "cls" else mean
            if shape["normalize"]:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            for j in range(cls.shape[0]):
                cases.append({
                    "text": SENTENCES[b + j],
                    "ids": ids[b + j],
                    "embedding": [float("%.9g" % v) for v in pooled[j].tolist()],
                    "cls": [float("%.9g" % v) for v in cls[j].tolist()],
                })
    golden = {
        "shape": name, "layers": shape["layers"], "hidden": shape["hidden"],
        "heads": shape["heads"], "intermediate": shape["inter"],
        "positions": shape["positions"], "vocab_size": V, "weights": shape["weights"],
        "pooling": shape["pooling"], "normalize": shape["normalize"],
        "torch": torch.__version__, "cases": cases,
    }
    with open(os.path.join(outdir, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("%s: %d sentences, vocab %d, written to %s" % (name, len(cases), V, outdir))

if __name__ == "__main__":
    main()
