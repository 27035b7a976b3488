#!/usr/bin/env node
// make-golden.js - reference outputs of Universal Sentence Encoder Lite.
//
// Runs the model in TensorFlow.js (tfjs-core, tfjs-converter and the CPU
// back-end, 4.22.0) with the Tokenizer of
// @tensorflow-models/universal-sentence-encoder 1.3.3, the runtime the
// weights were published for, on every line of sentences.jsonl (one JSON
// string per line) and writes golden.jsonl: line i holds
//   {"ids": [token ids of sentence i], "embedding": [512 floats]}
// with floats rounded to 7 significant digits. tests/unit/test_use.c
// compares the C encoder against this file.
//
// Usage: node make-golden.js [MODEL_DIR]   (default: data/models/use-lite
// of this checkout, filled by scripts/fetch-models)
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfconv = require('@tensorflow/tfjs-converter');
const { Tokenizer } = require('@tensorflow-models/universal-sentence-encoder/dist/tokenizer');

const HERE = __dirname;
const MODEL_DIR = process.argv[2] || path.join(HERE, '..', '..', '..', 'data', 'models', 'use-lite');
const BATCH = 16;

function loadModel(dir) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const weightSpecs = [];
  const parts = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) parts.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(parts);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tfconv.loadGraphModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
}

// Embeds texts in one call. A text with no tokens (the empty string) has
// no entry in the sparse input; the graph then gives it the embedding of
// an all-padding row, which is well defined only when a later row exists,
// so one non-empty text is appended and its row dropped.
async function embedBatch(model, tokenizer, texts) {
  const encodings = texts.map((t) => tokenizer.encode(t));
  encodings.push(tokenizer.encode('x'));
  const indices = [];
  const values = [];
  encodings.forEach((ids, s) => ids.forEach((id, p) => { indices.push([s, p]); values.push(id); }));
  const ti = tf.tensor2d(indices, [indices.length, 2], 'int32');
  const tv = tf.tensor1d(values, 'int32');
  const out = await model.executeAsync({ indices: ti, values: tv });
  const [rows, dim] = out.shape;
  if (rows !== texts.length + 1) throw new Error(`model returned ${rows} rows for ${texts.length + 1} texts`);
  const data = await out.data();
  tf.dispose([ti, tv, out]);
  const vecs = [];
  for (let r = 0; r < texts.length; r++) vecs.push(Array.from(data.subarray(r * dim, (r + 1) * dim)));
  return { ids: encodings.slice(0, texts.length), vecs };
}

async function main() {
  await tf.setBackend('cpu');
  const vocabulary = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'vocab.json'), 'utf8'));
  const tokenizer = new Tokenizer(vocabulary);
  const model = await loadModel(MODEL_DIR);
  const sentences = fs.readFileSync(path.join(HERE, 'sentences.jsonl'), 'utf8')
      .split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
  const lines = [];
  for (let i = 0; i < sentences.length; i += BATCH) {
    const { ids, vecs } = await embedBatch(model, tokenizer, sentences.slice(i, i + BATCH));
    for (let j = 0; j < ids.length; j++) {
      const emb = vecs[j].map((x) => Number(x.toPrecision(7)));
      lines.push(JSON.stringify({ ids: ids[j], embedding: emb }));
    }
  }
  fs.writeFileSync(path.join(HERE, 'golden.jsonl'), lines.join('\n') + '\n');
  console.log(`golden.jsonl: ${lines.length} sentences, tfjs ${tf.version_core} (${tf.getBackend()})`);
}

main().catch((e) => { console.error(e); process.exit(1); });
