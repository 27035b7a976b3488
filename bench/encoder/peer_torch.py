#!/usr/bin/python3
"""PyTorch peer of bench/encoder for the BERT-shaped model.

Loads the model that tests/golden/bert/make_golden.py wrote in the Hugging
Face layout (config.json + model.safetensors, float32) into a BERT encoder
built from torch.nn modules (post-LN BERT, exact-erf GELU, mean pooling
over real tokens, L2 normalisation: what the model's sentence-transformers
files declare), and times it on pre-tokenized ids: one JSON array per line,
as `bench_encoder --ids` printed them for the same texts. A call takes
`batch` consecutive texts, pads them to the longest and passes the
attention mask, as a PyTorch user does. Timing follows bench_encoder.c:
a warm-up, then `reps` runs of `seconds`, per-call latency, medians.

Modes:
  peer_torch.py bench  MODEL_DIR IDS --batch B --threads T [--reps R --seconds S --warmup S]
  peer_torch.py export MODEL_DIR IDS OUT.onnx     (torch.onnx.export, dynamic batch/sequence)
  peer_torch.py vectors MODEL_DIR IDS OUT.f32     (embeddings of every text, float32)

Threads: torch.set_num_threads(T) for intra-op parallelism and
set_num_interop_threads(1).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or name.endswith("position_ids"):
            continue
        if info["dtype"] != "F32":
            raise SystemExit("%s: %s is %s; the benchmark model is float32" % (path, name, info["dtype"]))
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).copy())
    return out


class Layer(torch.nn.Module):
    def __init__(self, hidden, heads, inter, eps):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.query = torch.nn.Linear(hidden, hidden)
        self.key = torch.nn.Linear(hidden, hidden)
        self.value = torch.nn.Linear(hidden, hidden)
        self.attn_out = torch.nn.Linear(hidden, hidden)
        self.attn_norm = torch.nn.LayerNorm(hidden, eps=eps)
        self.up = torch.nn.Linear(hidden, inter)
        self.down = torch.nn.Linear(inter, hidden)
        self.out_norm = torch.nn.LayerNorm(hidden, eps=eps)

    def forward(self, x, bias):
        B, L, H = x.shape

        def split(t):
            return t.view(B, L, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + bias
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(B, L, H)
        a = self.attn_norm(self.attn_out(ctx) + x)
        return self.out_norm(self.down(F.gelu(self.up(a))) + a)


class Bert(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        eps = cfg.get("layer_norm_eps", 1e-12)
        self.word = torch.nn.Embedding(cfg["vocab_size"], H)
        self.pos = torch.nn.Embedding(cfg["max_position_embeddings"], H)
        self.token_type = torch.nn.Embedding(cfg.get("type_vocab_size", 2), H)
        self.norm = torch.nn.LayerNorm(H, eps=eps)
        self.layers = torch.nn.ModuleList(
            Layer(H, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
            for _ in range(cfg["num_hidden_layers"]))

    def forward(self, input_ids, attention_mask):
        L = input_ids.shape[1]
        pos = torch.arange(L, dtype=torch.long).unsqueeze(0)
        x = self.word(input_ids) + self.pos(pos) + self.token_type(torch.zeros_like(input_ids))
        x = self.norm(x)
        mask = attention_mask.to(torch.float32)
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        for layer in self.layers:
            x = layer(x, bias)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return F.normalize(pooled, p=2.0, dim=1)


def load_model(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    m = Bert(cfg)
    sd = {
        "word.weight": w["embeddings.word_embeddings.weight"],
        "pos.weight": w["embeddings.position_embeddings.weight"],
        "token_type.weight": w["embeddings.token_type_embeddings.weight"],
        "norm.weight": w["embeddings.LayerNorm.weight"],
        "norm.bias": w["embeddings.LayerNorm.bias"],
    }
    names = [("query", "attention.self.query"), ("key", "attention.self.key"),
             ("value", "attention.self.value"), ("attn_out", "attention.output.dense"),
             ("attn_norm", "attention.output.LayerNorm"), ("up", "intermediate.dense"),
             ("down", "output.dense"), ("out_norm", "output.LayerNorm")]
    for i in range(cfg["num_hidden_layers"]):
        for ours, hf in names:
            for s in ("weight", "bias"):
                sd["layers.%d.%s.%s" % (i, ours, s)] = w["encoder.layer.%d.%s.%s" % (i, hf, s)]
    m.load_state_dict(sd)
    m.eval()
    return m


def read_ids(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def padded(batch):
    L = max(len(x) for x in batch)
    ids = torch.zeros(len(batch), L, dtype=torch.long)
    mask = torch.zeros(len(batch), L, dtype=torch.long)
    for b, x in enumerate(batch):
        ids[b, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[b, : len(x)] = 1
    return ids, mask


def blas_in_use():
    """The BLAS library mapped into this process (after a product ran)."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if "blas" in p or "mkl" in p:
                libs.add(os.path.realpath(p))
    return ",".join(sorted(libs)) or "none"


def bench(args):
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    m = load_model(args.model)
    texts = read_ids(args.ids)
    nxt = 0
    rates, p50s, p99s = [], [], []
    with torch.inference_mode():
        for r in range(args.reps + 1):
            budget = args.warmup if r == 0 else args.seconds
            lat, done = [], 0
            start = now = time.perf_counter()
            while not lat or now - start < budget:
                batch = [texts[(nxt + i) % len(texts)] for i in range(args.batch)]
                nxt = (nxt + args.batch) % len(texts)
                c0 = time.perf_counter()
                ids, mask = padded(batch)
                m(ids, mask)
                now = time.perf_counter()
                lat.append((now - c0) * 1e3)
                done += args.batch
            if r == 0:
                continue
            lat.sort()
            rates.append(done / (now - start))
            p50s.append(lat[max(0, math.ceil(0.50 * len(lat)) - 1)])
            p99s.append(lat[max(0, math.ceil(0.99 * len(lat)) - 1)])
            print("  rep %d: %d calls, %.1f texts/s, p50 %.3f ms, p99 %.3f ms"
                  % (r, len(lat), rates[-1], p50s[-1], p99s[-1]), file=sys.stderr)
    med = lambda v: float(np.median(v))
    print("RESULT runtime=torch batch=%d threads=%d sent_s=%.1f p50_ms=%.3f p99_ms=%.3f reps=%d "
          "torch=%s intra=%d blas=%s"
          % (args.batch, args.threads, med(rates), med(p50s), med(p99s), args.reps,
             torch.__version__, torch.get_num_threads(), blas_in_use()))


def export(args):
    m = load_model(args.model)
    texts = read_ids(args.ids)
    ids, mask = padded(texts[:2])
    torch.onnx.export(m, (ids, mask), args.out, input_names=["input_ids", "attention_mask"],
                      output_names=["embedding"], opset_version=14,
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                    "attention_mask": {0: "batch", 1: "sequence"},
                                    "embedding": {0: "batch"}})
    print("exported %s (torch %s, opset 14)" % (args.out, torch.__version__), file=sys.stderr)


def vectors(args):
    m = load_model(args.model)
    texts = read_ids(args.ids)
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), 32):
            ids, mask = padded(texts[i: i + 32])
            out.append(m(ids, mask).numpy())
    np.concatenate(out).astype("<f4").tofile(args.out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["bench", "export", "vectors"])
    ap.add_argument("model")
    ap.add_argument("ids")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    args = ap.parse_args()
    if args.mode != "bench" and not args.out:
        ap.error("%s needs OUT" % args.mode)
    {"bench": bench, "export": export, "vectors": vectors}[args.mode](args)


if __name__ == "__main__":
    main()
