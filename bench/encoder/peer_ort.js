#!/usr/bin/env node
// peer_ort.js - ONNX Runtime peer of bench/encoder for the BERT-shaped model.
//
// Runs the ONNX file that peer_torch.py exported (same weights) with
// onnxruntime-node (CPU execution provider, graph optimisation "all",
// sequential execution, intra-op threads = --threads, inter-op threads 1)
// on pre-tokenized ids: one JSON array per line, as `bench_encoder --ids`
// printed them for the same texts. A call takes `batch` consecutive texts,
// pads them to the longest with an attention mask, as an ONNX Runtime user
// does. Timing follows bench_encoder.c: a warm-up, then `reps` runs of
// `seconds`, per-call latency, medians.
//
//   node peer_ort.js bench MODEL.onnx IDS --batch B --threads T [--reps R --seconds S --warmup S]
//   node peer_ort.js vectors MODEL.onnx IDS OUT.f32
'use strict';

const fs = require('fs');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = { batch: 1, threads: 1, reps: 3, seconds: 3, warmup: 1, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k.startsWith('--')) a[k.slice(2)] = Number(argv[++i]);
    else a.pos.push(k);
  }
  return a;
}

function feeds(batch) {
  const L = Math.max(...batch.map((x) => x.length));
  const ids = new BigInt64Array(batch.length * L);
  const mask = new BigInt64Array(batch.length * L);
  batch.forEach((x, b) => x.forEach((id, p) => {
    ids[b * L + p] = BigInt(id);
    mask[b * L + p] = 1n;
  }));
  return {
    input_ids: new ort.Tensor('int64', ids, [batch.length, L]),
    attention_mask: new ort.Tensor('int64', mask, [batch.length, L]),
  };
}

const quantile = (v, q) => v[Math.max(0, Math.ceil(q * v.length) - 1)];
const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const [mode, modelPath, idsPath, out] = a.pos;
  const texts = fs.readFileSync(idsPath, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
  });
  if (mode === 'vectors') {
    const parts = [];
    for (let i = 0; i < texts.length; i += 32) {
      const r = await session.run(feeds(texts.slice(i, i + 32)));
      parts.push(Buffer.from(r.embedding.data.buffer, r.embedding.data.byteOffset, r.embedding.data.byteLength));
    }
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
      await session.run(feeds(batch));
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
  console.log(`RESULT runtime=onnxruntime batch=${a.batch} threads=${a.threads} ` +
              `sent_s=${median(rates).toFixed(1)} p50_ms=${median(p50s).toFixed(3)} ` +
              `p99_ms=${median(p99s).toFixed(3)} reps=${a.reps} ort=${ort.env.versions.common} ` +
              `intra=${a.threads}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
