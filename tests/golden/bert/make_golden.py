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
  tiny    2 layers, hidden 48, 4 heads, FFN 96, 40 positions  (committed)
  minilm  6 layers, hidden 384, 12 heads, FFN 1536, 512 positions
  base    12 layers, hidden 768, 12 heads, FFN 3072, 512 positions

Needs Debian's python3-torch and python3-numpy; nothing else (the
safetensors and GGUF writers are below).

Usage: make_golden.py SHAPE OUTDIR
"""
import json
import math
import os
import struct
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
    w["embeddings.token_type_embeddings.weight"] = normal(2, H, std=0.5)
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

def forward(w, shape, batch_ids, eps=1e-12):
    """Post-LN BERT in float32 over a padded batch with an additive mask."""
    H, nh = shape["hidden"], shape["heads"]
    d = H // nh
    B = len(batch_ids)
    L = max(len(x) for x in batch_ids)
    ids = torch.zeros(B, L, dtype=torch.long)
    mask = torch.zeros(B, L)
    for b, x in enumerate(batch_ids):
        ids[b, : len(x)] = torch.tensor(x)
        mask[b, : len(x)] = 1
    F = torch.nn.functional
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:L][None]
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

def main():
    if len(sys.argv) != 3 or sys.argv[1] not in SHAPES:
        sys.exit("usage: make_golden.py {%s} OUTDIR" % ",".join(SHAPES))
    name, outdir = sys.argv[1], sys.argv[2]
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
