#!/usr/bin/python3
"""Benchmark texts for bench/encoder: short shopping queries and product
descriptions, drawn (seeded, so every run sees the same texts) from the
whole words of the benchmark BERT model's vocabulary, so that its WordPiece
tokenizer keeps every word whole; USE-Lite's vocabulary also has most of
them as single pieces. bench/encoder/run then keeps only the texts whose
token counts are in range for every model measured.

Usage: make_texts.py TOKENIZER_JSON OUTDIR
Writes OUTDIR/short.all (queries of 6-13 words) and OUTDIR/desc.all
(descriptions of 55-105 words in sentences), 400 lines each.
"""
import json
import random
import sys

# Words of the test vocabulary that make no sense in a shop.
SKIP = {"istanbul", "naive", "resume", "creme", "brulee", "cafe", "hello", "world", "play"}


def main():
    tok_path, outdir = sys.argv[1], sys.argv[2]
    vocab = json.load(open(tok_path, encoding="utf-8"))["model"]["vocab"]
    words = sorted(w for w in vocab if w.isascii() and w.isalpha() and len(w) >= 3 and w not in SKIP)
    rng = random.Random(20261122)

    def phrase(lo, hi):
        return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))

    with open(outdir + "/short.all", "w", encoding="utf-8") as f:
        for _ in range(400):
            f.write(phrase(6, 13) + "\n")
    with open(outdir + "/desc.all", "w", encoding="utf-8") as f:
        for _ in range(400):
            target, n, sents = rng.randint(55, 105), 0, []
            while n < target:
                k = min(rng.randint(6, 14), target - n)
                s = phrase(k, k)
                if k > 8 and rng.random() < 0.5:
                    cut = s.split(" ")
                    s = " ".join(cut[:4]) + ", " + " ".join(cut[4:])
                sents.append(s[0].upper() + s[1:] + ".")
                n += k
            f.write(" ".join(sents) + "\n")


if __name__ == "__main__":
    main()
