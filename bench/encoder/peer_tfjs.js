#!/usr/bin/env node
// peer_tfjs.js - TensorFlow.js peer of bench/encoder for USE-Lite.
//
// Runs the model the way its reference runtime does (tests/golden/use:
// @tensorflow/tfjs-core, -converter and -backend-cpu 4.22.0 and the
// Tokenizer of @tensorflow-models/universal-sentence-encoder 1.3.3, from
// tests/golden/use/node_modules) on the same texts as bench_encoder: one
// text per line. A timed call tokenizes `batch` consecutive texts, runs the
// graph and reads the embeddings back, as a user of the reference does.
// The CPU back-end of TF.js is single-threaded JavaScript, so there is no
// thread setting to match. Timing follows bench_encoder.c: a warm-up, then
// `reps` runs of `seconds`, per-call latency, medians.
//
//   node peer_tfjs.js bench MODEL_DIR TEXTS --batch B [--reps R --seconds S --warmup S]
//   node peer_tfjs.js vectors MODEL_DIR TEXTS OUT.f32
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const ref = createRequire(path.join(__dirname, '..', '..', 'tests', 'golden', 'use', 'package.json'));
const tf = ref('@tensorflow/tfjs-core');
ref('@tensorflow/tfjs-backend-cpu');
const tfconv = ref('@tensorflow/tfjs-converter');
const { Tokenizer } = ref('@tensorflow-models/universal-sentence-encoder/dist/tokenizer');

function parseArgs(argv) {
  const a = { batch: 1, threads: 1, reps: 3, seconds: 3, warmup: 1, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k.startsWith('--')) a[k.slice(2)] = Number(argv[++i]);
    else a.pos.push(k);
  }
  return a;
}

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

// Texts to [n, 512] floats (every benchmark text has tokens).
async function embed(model, tokenizer, texts) {
  const indices = [];
  const values = [];
  texts.forEach((t, s) => tokenizer.encode(t).forEach((id, p) => {
    indices.push([s, p]);
    values.push(id);
  }));
  const ti = tf.tensor2d(indices, [indices.length, 2], 'int32');
  const tv = tf.tensor1d(values, 'int32');
  const out = await model.executeAsync({ indices: ti, values: tv });
  const data = await out.data();
  tf.dispose([ti, tv, out]);
  return data;
}

const quantile = (v, q) => v[Math.max(0, Math.ceil(q * v.length) - 1)];
const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const [mode, modelDir, textsPath, out] = a.pos;
  await tf.setBackend('cpu');
  const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(path.join(modelDir, 'vocab.json'), 'utf8')));
  const model = await loadModel(modelDir);
  const texts = fs.readFileSync(textsPath, 'utf8').split('\n').filter((l) => l);
  if (mode === 'vectors') {
    const parts = [];
    for (let i = 0; i < texts.length; i += 32) parts.push(Buffer.from((await embed(model, tokenizer, texts.slice(i, i + 32))).buffer));
    fs.writeFileSync(out, Buffer.concat(parts));
    return;
  }
  let next = 0;
  const rates = [], p50s = [], p99s = [];
  for (let r = 0; r <= a.reps; r++) {
    const budget = (r === 0 ? a.warmup : a.seconds) * 1e3;
    const lat = [];
    let done = 0;
    const start = performance.now();
    let now = start;
    while (lat.length === 0 || now - start < budget) {
      const batch = [];
      for (let i = 0; i < a.batch; i++) batch.push(texts[(next + i) % texts.length]);
      next = (next + a.batch) % texts.length;
      const c0 = performance.now();
      await embed(model, tokenizer, batch);
      now = performance.now();
      lat.push(now - c0);
      done += a.batch;
    }
    if (r === 0) continue;
    lat.sort((x, y) => x - y);
    rates.push(done / ((now - start) / 1e3));
    p50s.push(quantile(lat, 0.5));
    p99s.push(quantile(lat, 0.99));
    process.stderr.write(`  rep ${r}: ${lat.length} calls, ${rates.at(-1).toFixed(1)} texts/s, ` +
                         `p50 ${p50s.at(-1).toFixed(3)} ms, p99 ${p99s.at(-1).toFixed(3)} ms\n`);
  }
  console.log(`RESULT runtime=tfjs batch=${a.batch} threads=1 sent_s=${median(rates).toFixed(1)} ` +
              `p50_ms=${median(p50s).toFixed(3)} p99_ms=${median(p99s).toFixed(3)} reps=${a.reps} ` +
              `tfjs=${tf.version_core} backend=${tf.getBackend()}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
