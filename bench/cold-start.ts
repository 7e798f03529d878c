import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';
import { buildFunctions } from '../scripts/build.ts';
import { median, round } from './stats.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export type ColdStartTimes = {
  spawns: number;
  /** Medians, ms: process start → before import (Node's own boot), the import, the first no-op invoke. */
  nodeBootMs: number;
  importMs: number;
  firstInvokeMs: number;
  /** import + first invoke: what the function's code adds to a cold start. */
  initMs: number;
  /** Spawn → exit, seen from the parent. */
  processWallMs: number;
};

export type ColdStartResult = {
  buildSeconds: number;
  bundles: Array<{ logicalId: string; bytes: number; kb: number; gzipBytes: number; gzipKb: number }>;
  exchange: { bytes: number; kb: number; gzipBytes: number; gzipKb: number };
  /** The exchange bundle's largest parts (KB of output), by package. */
  exchangeContents: Array<{ from: string; kb: number }>;
  /** Importing the SDK client the bundle leaves external (the runtime provides it), alone, median ms. */
  externalSdkImportMs: number;
  bundled: ColdStartTimes;
  unbundled: ColdStartTimes;
};

/**
 * Imports a module in this fresh process and invokes its handler once with an empty SQS event (no
 * database or network is touched: the runtime is built, the stash flushed, nothing processed).
 */
const PROBE = `
const bootMs = performance.now();
const module = await import(process.argv[2]);
const importedMs = performance.now();
const context = {
  functionName: 'cafe24-token-exchange', functionVersion: '$LATEST', memoryLimitInMB: '512',
  awsRequestId: 'bench', invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:cafe24-token-exchange',
  logGroupName: '/aws/lambda/cafe24-token-exchange', logStreamName: 'bench', callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 75000,
};
if (typeof module.handler === 'function') {
  const response = await module.handler({ Records: [] }, context);
  if (!Array.isArray(response?.batchItemFailures)) throw new Error('unexpected response: ' + JSON.stringify(response));
}
const invokedMs = performance.now();
process.stdout.write(JSON.stringify({ bootMs, importMs: importedMs - bootMs, invokeMs: invokedMs - importedMs }));
process.exit(0);
`;

/** What Lambda would set, and no more: the runtime is built but never connects. */
const probeEnv = {
  PATH: process.env.PATH ?? '',
  TZ: 'UTC',
  AWS_REGION: 'ap-northeast-2',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  POWERTOOLS_SERVICE_NAME: 'cafe24-token-issuer',
  PGHOST: '127.0.0.1',
  PGPORT: '5432',
  PGDATABASE: 'bench',
  PGUSER: 'bench',
  PGPASSWORD: 'bench',
  CAFE24_CLIENT_ID: 'bench-client-id',
  CAFE24_CLIENT_SECRET: 'bench-client-secret',
  CAFE24_REDIRECT_URI: 'https://app.example.com/cafe24/callback',
  EXCHANGE_CONCURRENCY: '10',
};

export async function measureColdStart(spawns = 10): Promise<ColdStartResult> {
  const workdir = await mkdtemp(join(tmpdir(), 'cafe24-bench-build-'));
  try {
    // The runtime provides AWS SDK v3 (the bundles leave @aws-sdk/* external), and nothing else.
    await mkdir(join(workdir, 'node_modules'));
    await symlink(join(root, 'node_modules', '@aws-sdk'), join(workdir, 'node_modules', '@aws-sdk'), 'dir');
    const buildStarted = performance.now();
    const bundles = await buildFunctions({ outdir: join(workdir, 'dist') });
    const buildSeconds = (performance.now() - buildStarted) / 1000;
    const exchange = bundles.find((bundle) => bundle.logicalId === 'ExchangeFunction');
    if (!exchange) throw new Error('template.yaml has no ExchangeFunction');
    const probe = join(workdir, 'probe.mjs');
    await writeFile(probe, PROBE);
    const sizes = (bytes: number, gzipBytes: number) => ({
      bytes,
      kb: round(bytes / 1024, 1),
      gzipBytes,
      gzipKb: round(gzipBytes / 1024, 1),
    });
    // Alternate the two so neither gets a warmer disk cache or a quieter machine.
    const bundled: Sample[] = [];
    const unbundled: Sample[] = [];
    const sdk: Sample[] = [];
    for (let i = 0; i < spawns + 1; i++) {
      const a = await spawnProbe(probe, pathToFileURL(exchange.outfile).href, workdir);
      const b = await spawnProbe(probe, pathToFileURL(join(root, 'src/handlers/exchange.ts')).href, root);
      const c = await spawnProbe(probe, '@aws-sdk/client-secrets-manager', workdir);
      // The first round only warms the file cache.
      if (i > 0) {
        bundled.push(a);
        unbundled.push(b);
        sdk.push(c);
      }
    }
    return {
      buildSeconds: round(buildSeconds, 2),
      bundles: bundles.map((bundle) => ({
        logicalId: bundle.logicalId,
        ...sizes(bundle.bytes, bundle.gzipBytes),
      })),
      exchange: sizes(exchange.bytes, exchange.gzipBytes),
      exchangeContents: contents(exchange.metafile),
      externalSdkImportMs: round(median(sdk.map((sample) => sample.importMs)), 1),
      bundled: summarizeSamples(bundled),
      unbundled: summarizeSamples(unbundled),
    };
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}

/** Output bytes per package (or `src`), largest first. */
function contents(metafile: Metafile, top = 8): Array<{ from: string; kb: number }> {
  const bytes = new Map<string, number>();
  for (const [path, output] of Object.entries(metafile.outputs)) {
    if (path.endsWith('.map')) continue;
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const from = match?.[1] ?? 'src';
      bytes.set(from, (bytes.get(from) ?? 0) + bytesInOutput);
    }
  }
  return [...bytes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([from, size]) => ({ from, kb: round(size / 1024, 1) }));
}

type Sample = { bootMs: number; importMs: number; invokeMs: number; wallMs: number };

async function spawnProbe(probe: string, moduleUrl: string, cwd: string): Promise<Sample> {
  const started = performance.now();
  const { stdout } = await promisify(execFile)(process.execPath, [probe, moduleUrl], {
    env: probeEnv,
    cwd,
    timeout: 30_000,
  });
  const wallMs = performance.now() - started;
  return { ...(JSON.parse(stdout) as Omit<Sample, 'wallMs'>), wallMs };
}

function summarizeSamples(samples: Sample[]): ColdStartTimes {
  const med = (pick: (sample: Sample) => number) => round(median(samples.map(pick)), 1);
  return {
    spawns: samples.length,
    nodeBootMs: med((s) => s.bootMs),
    importMs: med((s) => s.importMs),
    firstInvokeMs: med((s) => s.invokeMs),
    initMs: med((s) => s.importMs + s.invokeMs),
    processWallMs: med((s) => s.wallMs),
  };
}
