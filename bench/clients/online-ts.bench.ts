/**
 * The TypeScript part of bench/clients/online_bench.py: POST /get-online-features through
 * FeaturelogClient (libs/client) beside raw fetch of the same body, one request in flight, the two
 * interleaved request by request so that both see the same machine.
 *
 *   BENCH_CASES_FILE=<cases.json> node_modules/.bin/node -r @swc-node/register bench/clients/online-ts.bench.ts
 *
 * Reads the cases file online_bench.py writes ({ servingUrl, warmup, cases: [{ name, batch, requests, body }] })
 * and FEATURELOG_API_KEY; prints one JSON line per case and mode, the protocol every language's part follows
 * (see bench/clients/README.md).
 */
import { readFileSync } from 'node:fs';
import { FeaturelogClient, type OnlineFeaturesRequest } from '@featurelog/client';
import { exitOnFailure } from '../bench-entry';

interface BenchCase {
  name: string;
  batch: number;
  requests: number;
  body: { features: string[]; entities: Record<string, unknown[]> };
}

interface CasesFile {
  servingUrl: string;
  warmup: number;
  cases: BenchCase[];
}

function summary(language: string, mode: string, benchCase: BenchCase, millis: number[], wallMillis: number) {
  const sorted = [...millis].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return {
    language,
    mode,
    case: benchCase.name,
    batch: benchCase.batch,
    requests: millis.length,
    p50_ms: at(0.5),
    p99_ms: at(0.99),
    mean_ms: millis.reduce((a, b) => a + b, 0) / millis.length,
    // Of this mode's own time: the two modes are interleaved, so the wall clock holds both.
    rps: millis.length / (millis.reduce((a, b) => a + b, 0) / 1000),
    wall_ms: wallMillis,
  };
}

async function main(): Promise<void> {
  const file = process.env.BENCH_CASES_FILE;
  if (!file) throw new Error('BENCH_CASES_FILE is not set (run bench/clients/online_bench.py)');
  const spec = JSON.parse(readFileSync(file, 'utf8')) as CasesFile;
  const apiKey = process.env.FEATURELOG_API_KEY;
  const client = new FeaturelogClient({ url: spec.servingUrl, ...(apiKey ? { apiKey } : {}) });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const url = `${spec.servingUrl}/get-online-features`;

  for (const benchCase of spec.cases) {
    const request: OnlineFeaturesRequest = {
      features: benchCase.body.features,
      entities: benchCase.body.entities,
    };
    const raw = async () => {
      const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(benchCase.body) });
      if (!response.ok) throw new Error(`raw fetch: HTTP ${response.status}: ${await response.text()}`);
      return (await response.json()) as { results: unknown[] };
    };
    const viaClient = () => client.getOnlineFeatures(request);
    const expected = benchCase.body.features.length + Object.keys(benchCase.body.entities).length;
    for (const answer of [await raw(), await viaClient()]) {
      if (answer.results.length !== expected)
        throw new Error(`${benchCase.name}: ${answer.results.length} result columns, expected ${expected}`);
    }
    for (let i = 0; i < spec.warmup; i++) await Promise.all([raw(), viaClient()]);
    const times = { client: [] as number[], raw: [] as number[] };
    const started = performance.now();
    for (let i = 0; i < benchCase.requests; i++) {
      for (const [mode, call] of [
        ['raw', raw],
        ['client', viaClient],
      ] as const) {
        const t0 = performance.now();
        await call();
        times[mode].push(performance.now() - t0);
      }
    }
    const wall = performance.now() - started;
    for (const mode of ['client', 'raw'] as const) {
      console.log(JSON.stringify(summary('typescript', mode, benchCase, times[mode], wall)));
    }
  }
}

exitOnFailure(main());
