#!/usr/bin/python3
"""Writes tests/golden/jieba/cuts.jsonl: the reference segmentation of the
sentences in sentences.txt by jieba itself (Debian's python3-jieba 0.42.1),
in accurate mode without the HMM for unknown words, which is what
src/text/jieba.c implements. One JSON object per line: {"text", "cut"}.

Run from the repository root after scripts/fetch-text-data:
    /usr/bin/python3 tests/golden/jieba/make-golden.py   (Debian's python3-jieba)
The dictionary is the one vitrine reads (data/text/jieba/dict.txt), so the
reference and the C code see the same frequencies.
"""
import json
import logging
import os
import sys

import jieba

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", "..", ".."))
jieba.setLogLevel(logging.WARNING)
jieba.set_dictionary(os.path.join(root, "data", "text", "jieba", "dict.txt"))

with open(os.path.join(here, "sentences.txt"), encoding="utf-8") as f:
    # One sentence per line; the two-character escapes \t and \n stand for
    # a tab and a line break so that whitespace handling is covered too.
    sentences = [l.rstrip("\n").replace("\\t", "\t").replace("\\n", "\n")
                 for l in f if l.strip() and not l.startswith("#")]

out = os.path.join(here, "cuts.jsonl")
with open(out, "w", encoding="utf-8") as f:
    for s in sentences:
        cut = list(jieba.cut(s, HMM=False))
        f.write(json.dumps({"text": s, "cut": cut}, ensure_ascii=False) + "\n")
print("%s: %d sentences" % (out, len(sentences)), file=sys.stderr)
