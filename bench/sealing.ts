/**
 * Tokens sealed at rest (issue 20): what sealing costs, in one run. Prints numbers; asserts nothing.
 *
 *   node bench/sealing.ts            (BENCH_SCALE=0.2 for a quick look)
 *
 * 1. A seal and an open of a Cafe24 access token (22 base64url characters), in µs per call as the caller
 *    awaits it (process.hrtime.bigint around each call, after a warm-up): the plaintext codec
 *    (`new TokenCodec(undefined)`, the baseline), TOKEN_ENCRYPTION_KEY (`localDataKeys`) and envelope keys
 *    (`tokenCodecFor` with TOKEN_KMS_KEY_ID on the local KMS, after its data key is cached: the cache hit
 *    is what every seal and open but a container's first pays).
 * 2. KMS calls and database look-ups of the current key per container per hour: `envelopeDataKeys` over
 *    the real KMS wrapper (`kmsKeyWrapper`, the local KMS counting each call) and the real store
 *    (`PostgresDataKeyStore`, wrapped to count its calls), its clock injected, driven through one simulated
 *    hour of 10,000 seals and 10,000 opens (1,000 batches of 10 at once, one every 3.6 s). Containers: the
 *    deployment's first (no data key yet), a later one (the key exists), and the first again in its third
 *    hour, when `rotate-key` makes a new key current at minute 30. No container calls ready() first (the
 *    runtimes' warmTokenCodec does): its first batch is its first use of the keys.
 * 3. The exchange's INSERT commit → token row commit (bench/latency.ts's measureLatency), sealing with the
 *    local KMS (`sealing: 'kms'`, the stack's default) and without (`sealing: 'plaintext'`): the bench
 *    environment (bench/environment.ts) primed with 100 codes, its relay stopped, then on its database,
 *    in turn and twice (kms, plaintext, kms, plaintext), a fresh stack sealing under its local KMS key
 *    (through a proxy counting the KMS calls) and a fresh plaintext one. Every TokenCodec.seal in the
 *    process is timed meanwhile (the stacks run in it).
 *
 * Writes bench/results/sealing-<time>.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LocalKms, type LocalKmsCall, startLocalKms } from '../local/kms.ts';
import { startEmbeddedPostgres } from '../local/postgres.ts';
import { DEPLOYED, startLocalStack } from '../local/stack.ts';
import { type KmsKeyWrapper, kmsKeyWrapper } from '../src/aws/kms.ts';
import { logger } from '../src/commons/logger.ts';
import { Secret } from '../src/commons/secret.ts';
import {
  type DataKeys,
  localDataKeys,
  type SealedAt,
  sealedKeyId,
  TokenCodec,
} from '../src/commons/token-codec.ts';
import { loadConfig } from '../src/config.ts';
import {
  CURRENT_KEY_RECHECK_MS,
  type DataKeyStore,
  envelopeDataKeys,
  newDataKeyId,
} from '../src/domain/data-keys.ts';
import { tokenCodecFor } from '../src/runtime/sealing.ts';
import { PostgresDataKeyStore } from '../src/store/data-keys.ts';
import { migrate } from '../src/store/migrate.ts';
import { clientConfig, createPool } from '../src/store/pool.ts';
import { sealingCounts } from '../src/store/sealing.ts';
import { sleep, startBenchEnvironment } from './environment.ts';
import { type LatencyResult, measureLatency } from './latency.ts';
import { resultStamp, round, type Summary, summarize } from './stats.ts';

// The numbers, not a log line per exchange.
logger.setLogLevel('ERROR');

const SCALE = Number(process.env.BENCH_SCALE ?? '1') || 1;
const size = (n: number, least = 10) => Math.max(least, Math.round(n * SCALE));

const OPS = size(20_000, 1_000);
const WARMUP_OPS = size(2_000, 200);
const HOUR_BATCHES = 1_000;
const BATCH = 10;
const HOUR_MS = 3_600_000;
const CODES = size(200);
const LATENCY_WARMUP = 20;
const RATE_PER_SECOND = 25;
const LATENCY_ROUNDS = 2;
const PRIMING_CODES = 100;

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
const progress = (line: string) => process.stderr.write(`· ${line}\n`);
const startedAt = new Date();
const loadAtStart = loadavg()[0] ?? 0;

/** A token as Cafe24 issues one: 16 random bytes, 22 base64url characters. */
const cafe24Token = () => randomBytes(16).toString('base64url');
const AT: SealedAt = { mallId: 'benchmall', column: 'access_token' };

// ---------------------------------------------------------------------------------------------------------
// 1. µs per seal and open

type CodecCost = { codec: string; sealedChars: number; sealUs: Summary; openUs: Summary };

const nsToUs = (ns: bigint) => Number(ns) / 1_000;

async function sealAndOpen(codec: TokenCodec, count: number): Promise<{ seal: number[]; open: number[] }> {
  const token = new Secret(cafe24Token());
  const stored: string[] = new Array(count);
  const seal: number[] = new Array(count);
  const open: number[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const began = process.hrtime.bigint();
    stored[i] = await codec.seal(token, AT);
    seal[i] = nsToUs(process.hrtime.bigint() - began);
  }
  for (let i = 0; i < count; i++) {
    const began = process.hrtime.bigint();
    const opened = await codec.open(stored[i]!, AT);
    open[i] = nsToUs(process.hrtime.bigint() - began);
    if (opened.reveal() !== token.reveal()) throw new Error('a sealed token did not open to itself');
  }
  return { seal, open };
}

async function codecCosts(codecs: Array<{ name: string; codec: TokenCodec }>): Promise<CodecCost[]> {
  // Every code path compiled before anything is timed.
  for (const { codec } of codecs) await sealAndOpen(codec, WARMUP_OPS);
  const costs: CodecCost[] = [];
  for (const { name, codec } of codecs) {
    const { seal, open } = await sealAndOpen(codec, OPS);
    costs.push({
      codec: name,
      sealedChars: (await codec.seal(new Secret(cafe24Token()), AT)).length,
      sealUs: summarize(seal),
      openUs: summarize(open),
    });
  }
  return costs;
}

// ---------------------------------------------------------------------------------------------------------
// 2. KMS calls and current-key look-ups per container per hour

type StoreCounts = { current: number; byId: number; addFirst: number };

/** The store as the container sees it, each call counted. */
function countingStore(inner: DataKeyStore): { store: DataKeyStore; counts: StoreCounts } {
  const counts: StoreCounts = { current: 0, byId: 0, addFirst: 0 };
  return {
    counts,
    store: {
      current: () => {
        counts.current += 1;
        return inner.current();
      },
      byId: (id) => {
        counts.byId += 1;
        return inner.byId(id);
      },
      addFirst: (key) => {
        counts.addFirst += 1;
        return inner.addFirst(key);
      },
    },
  };
}

const byOperation = (calls: readonly LocalKmsCall[]) => {
  const counted: Record<string, number> = {};
  for (const call of calls) counted[call.target] = (counted[call.target] ?? 0) + 1;
  return counted;
};

type SimulatedContainer = {
  keys: DataKeys;
  codec: TokenCodec;
  counts: StoreCounts;
  clock: { at: number };
};

type HourResult = {
  container: string;
  seals: number;
  opens: number;
  kmsCalls: Record<string, number>;
  kmsCallsTotal: number;
  currentKeyLookups: number;
  keyByIdLookups: number;
  firstKeyInserts: number;
  /** With a rotation: the rotate-key process's own KMS calls (not the container's). */
  rotation?: { atMinute: number; rotateKeyKmsCalls: Record<string, number>; takenUpAfterSeconds: number };
};

/** A container of its own: its own KMS client, its own cache, its clock at `startAt`. */
function simulatedContainer(
  wrapper: KmsKeyWrapper,
  store: DataKeyStore,
  startAt: number,
): SimulatedContainer {
  const clock = { at: startAt };
  const counted = countingStore(store);
  const keys = envelopeDataKeys({
    wrapper,
    store: counted.store,
    recheckMs: CURRENT_KEY_RECHECK_MS,
    now: () => clock.at,
  });
  return { keys, codec: new TokenCodec(keys), counts: counted.counts, clock };
}

/**
 * One simulated hour from the container's clock on: 1,000 batches of 10 at once, each task opening its
 * mall's stored access token (when it has one) and sealing a new one, as a refresh does.
 */
async function simulateHour(
  name: string,
  container: SimulatedContainer,
  kms: LocalKms,
  stored: Map<string, string>,
  rotation?: { atMs: number; rotate: () => Promise<string> },
): Promise<HourResult> {
  const before = { ...container.counts };
  const start = container.clock.at;
  let kmsFrom = kms.calls.length;
  const containerCalls: LocalKmsCall[] = [];
  let rotateKeyCalls: LocalKmsCall[] = [];
  let rotated: { at: number; newKeyId: string } | undefined;
  let takenUpAt: number | undefined;
  let seals = 0;
  let opens = 0;
  const intervalMs = HOUR_MS / HOUR_BATCHES;
  for (let b = 0; b < HOUR_BATCHES; b++) {
    const at = start + b * intervalMs;
    container.clock.at = at;
    if (rotation && rotated === undefined && at - start >= rotation.atMs) {
      // rotate-key runs in a process of its own: its KMS calls are set apart from the container's.
      containerCalls.push(...kms.calls.slice(kmsFrom));
      const from = kms.calls.length;
      const newKeyId = await rotation.rotate();
      rotateKeyCalls = kms.calls.slice(from);
      kmsFrom = kms.calls.length;
      rotated = { at, newKeyId };
    }
    const sealedNow = await Promise.all(
      Array.from({ length: BATCH }, async (_, i) => {
        const where: SealedAt = { mallId: `simmall${(b * BATCH + i) % 500}`, column: 'access_token' };
        const previous = stored.get(where.mallId);
        if (previous !== undefined) {
          await container.codec.open(previous, where);
          opens += 1;
        }
        const value = await container.codec.seal(new Secret(cafe24Token()), where);
        stored.set(where.mallId, value);
        seals += 1;
        return value;
      }),
    );
    if (rotated && takenUpAt === undefined && sealedNow.some((v) => sealedKeyId(v) === rotated!.newKeyId))
      takenUpAt = at;
  }
  containerCalls.push(...kms.calls.slice(kmsFrom));
  container.clock.at = start + HOUR_MS;
  return {
    container: name,
    seals,
    opens,
    kmsCalls: byOperation(containerCalls),
    kmsCallsTotal: containerCalls.length,
    currentKeyLookups: container.counts.current - before.current,
    keyByIdLookups: container.counts.byId - before.byId,
    firstKeyInserts: container.counts.addFirst - before.addFirst,
    ...(rotated
      ? {
          rotation: {
            atMinute: round((rotated.at - start) / 60_000, 1),
            rotateKeyKmsCalls: byOperation(rotateKeyCalls),
            takenUpAfterSeconds:
              takenUpAt === undefined ? Number.NaN : round((takenUpAt - rotated.at) / 1000, 1),
          },
        }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------
// 3. INSERT → token row, sealed and not

type LatencyRun = LatencyResult & {
  sealing: 'kms' | 'plaintext';
  /** Rounds alternate the two (kms, plaintext, kms, …): the machine's drift falls on both alike. */
  round: number;
  /** The token rows this run wrote (warm-up included): sealed, plaintext. */
  rows: { sealed: number; plaintext: number };
  /** The stack's KMS calls, by operation: from its start until its first code, and during its codes. */
  kmsCalls?: { atStart: Record<string, number>; duringCodes: Record<string, number> };
  /** Each TokenCodec.seal the stack made during its codes, µs from call to resumption (two per code). */
  sealInStackUs: Summary;
};

/**
 * Times every TokenCodec.seal in this process (the stacks run here) until the returned function restores
 * it: from the call to the caller's resumption, the event loop shared with the relay and the runner.
 */
function timeSeals(into: number[]): () => void {
  const seal = TokenCodec.prototype.seal;
  TokenCodec.prototype.seal = async function timedSeal(this: TokenCodec, value, at) {
    const began = process.hrtime.bigint();
    try {
      return await seal.call(this, value, at);
    } finally {
      into.push(nsToUs(process.hrtime.bigint() - began));
    }
  };
  return () => {
    TokenCodec.prototype.seal = seal;
  };
}

/** Forwards KMS requests to `target`, noting each one's operation (X-Amz-Target). */
async function countingKmsProxy(target: string) {
  const operations: string[] = [];
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const header = request.headers['x-amz-target'];
    operations.push(typeof header === 'string' ? header.replace(/^TrentService\./, '') : 'unknown');
    try {
      const answer = await fetch(`${target}${request.url ?? '/'}`, {
        method: request.method ?? 'POST',
        headers: {
          'content-type': String(request.headers['content-type'] ?? 'application/x-amz-json-1.1'),
          ...(typeof header === 'string' ? { 'x-amz-target': header } : {}),
        },
        body: Buffer.concat(chunks),
      });
      response.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/x-amz-json-1.1',
        'x-amzn-requestid': answer.headers.get('x-amzn-requestid') ?? '',
      });
      response.end(Buffer.from(await answer.arrayBuffer()));
    } catch {
      response.writeHead(502).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    operations,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const countOperations = (operations: readonly string[]) =>
  byOperation(operations.map((target) => ({ target })));

/**
 * The bench environment (a fresh PostgreSQL 17, its stack, the bench's triggers), its relay stopped at
 * once; then, in turn on its database, a stack sealing under the environment's local KMS (through a
 * counting proxy) and a stack storing plaintext, each alone in taking the codes, each stopped after.
 */
async function latencyBoth(): Promise<LatencyRun[]> {
  progress('latency: a fresh PostgreSQL 17, the bench environment (its relay stopped)');
  const env = await startBenchEnvironment();
  let proxy: Awaited<ReturnType<typeof countingKmsProxy>> | undefined;
  const seals: number[] = [];
  const untimeSeals = timeSeals(seals);
  try {
    // The process's first exchanges compile the path: through the environment's own stack, not counted.
    progress(`latency: ${PRIMING_CODES} codes through the environment's own stack, not counted`);
    await measureLatency(env, {
      label: 'priming',
      codes: PRIMING_CODES,
      ratePerSecond: 50,
      sandboxDelayMs: 0,
      warmup: 0,
    });
    await env.stack.stopRelay();
    const kmsKeyId = env.stack.env.TOKEN_KMS_KEY_ID;
    const kmsEndpoint = env.stack.env.AWS_ENDPOINT_URL_KMS;
    if (kmsKeyId === undefined || kmsEndpoint === undefined)
      throw new Error('the bench environment does not seal with the local KMS');
    proxy = await countingKmsProxy(kmsEndpoint);
    const runs: LatencyRun[] = [];
    for (let pass = 1; pass <= LATENCY_ROUNDS; pass++)
      for (const sealing of ['kms', 'plaintext'] as const) {
        progress(`latency (${sealing}, round ${pass}): a stack on the same database`);
        const kmsFrom = proxy.operations.length;
        const stack = await startLocalStack({
          databaseUrl: env.databaseUrl,
          acceptUnknownCodes: false,
          sweepIntervalMs: 60_000,
          visibilityTimeoutSeconds: 30,
          batchSize: DEPLOYED.batchSize,
          maximumConcurrency: DEPLOYED.maximumConcurrency,
          sealing,
          // The environment's KMS key (the data key in the database is wrapped under it), through the proxy.
          ...(sealing === 'kms'
            ? { env: { TOKEN_KMS_KEY_ID: kmsKeyId, AWS_ENDPOINT_URL_KMS: proxy.endpoint } }
            : {}),
        });
        try {
          // The runtimes fetch their data key at start (warmTokenCodec), not waited for: let it land.
          await sleep(1_000);
          const atStart = countOperations(proxy.operations.slice(kmsFrom));
          const codesFrom = proxy.operations.length;
          seals.length = 0;
          const before = await sealingCounts(env.pool);
          progress(
            `latency (${sealing}, round ${pass}): ${CODES} codes at ${RATE_PER_SECOND}/s after ${LATENCY_WARMUP} to warm up`,
          );
          const run = await measureLatency(
            { ...env, stack },
            {
              label: sealing,
              codes: CODES,
              ratePerSecond: RATE_PER_SECOND,
              sandboxDelayMs: 0,
              warmup: LATENCY_WARMUP,
            },
          );
          const after = await sealingCounts(env.pool);
          runs.push({
            ...run,
            sealing,
            round: pass,
            sealInStackUs: summarize(seals),
            rows: { sealed: after.sealed - before.sealed, plaintext: after.plaintext - before.plaintext },
            ...(sealing === 'kms'
              ? {
                  kmsCalls: { atStart, duringCodes: countOperations(proxy.operations.slice(codesFrom)) },
                }
              : {}),
          });
        } finally {
          await stack.stop();
        }
      }
    return runs;
  } finally {
    untimeSeals();
    await proxy?.stop();
    await env.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------

function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)]
    .map((l) => `  ${l}`)
    .join('\n');
}

const us = (value: number) => value.toFixed(2);
const calls = (counted: Record<string, number>) =>
  Object.keys(counted).length === 0
    ? '0'
    : Object.entries(counted)
        .map(([operation, count]) => `${count} ${operation}`)
        .join(', ');

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-bench-sealing-'));
  let costs: CodecCost[];
  let hours: HourResult[];
  let envelopeWarm: { atReady: Record<string, number>; duringOps: Record<string, number> };
  progress('a fresh PostgreSQL 17 and the local KMS');
  let postgres: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let kms: LocalKms | undefined;
  let pool: ReturnType<typeof createPool> | undefined;
  try {
    postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
    await migrate({ connectionString: postgres.url() });
    kms = await startLocalKms();
    const config = loadConfig('encrypt', {
      DATABASE_URL: postgres.url(),
      TOKEN_KMS_KEY_ID: kms.keyArn,
      AWS_ENDPOINT_URL_KMS: kms.endpoint,
      AWS_REGION: 'us-east-1',
    });
    pool = createPool(clientConfig(config.database), { max: 4, applicationName: 'bench-sealing' });
    const store = new PostgresDataKeyStore(pool);
    const wrapper = () => kmsKeyWrapper({ keyId: config.sealing.kmsKeyId!, aws: config.aws });

    // 2 first, on an empty cafe24.token_data_keys: the first container makes the deployment's first key.
    progress('KMS calls: one simulated hour per container, the clock injected');
    const t0 = Date.parse('2026-12-04T00:00:00Z');
    const stored = new Map<string, string>();
    const first = simulatedContainer(wrapper(), store, t0);
    hours = [];
    hours.push(await simulateHour('first container, hour 1 (no data key yet)', first, kms, stored));
    hours.push(await simulateHour('first container, hour 2', first, kms, stored));
    const later = simulatedContainer(wrapper(), store, first.clock.at);
    hours.push(await simulateHour('a later container, hour 1 (the key exists)', later, kms, stored));
    // rotate-key: its own KMS client makes the new data key and makes it current (its first step).
    const rotateWrapper = wrapper();
    hours.push(
      await simulateHour('first container, hour 3 (rotate-key at minute 30)', first, kms, stored, {
        atMs: 30 * 60_000,
        rotate: async () => {
          const made = await rotateWrapper.generate();
          made.plaintext.fill(0);
          const id = newDataKeyId();
          await store.rotateTo({ id, kmsKeyArn: made.keyArn, wrapped: made.wrapped });
          return id;
        },
      }),
    );

    // 1: the codec as a runtime makes it (tokenCodecFor), its key cached by ready() before any timing.
    progress(`seal and open: ${OPS} each per codec after ${WARMUP_OPS} to warm up`);
    const envelope = tokenCodecFor(config, pool);
    const readyFrom = kms.calls.length;
    await envelope.ready();
    const atReady = byOperation(kms.calls.slice(readyFrom));
    const opsFrom = kms.calls.length;
    costs = await codecCosts([
      { name: 'plaintext (no key)', codec: new TokenCodec(undefined) },
      {
        name: 'TOKEN_ENCRYPTION_KEY (localDataKeys)',
        codec: new TokenCodec(localDataKeys(randomBytes(32).toString('base64'))),
      },
      { name: 'TOKEN_KMS_KEY_ID (envelope, key cached)', codec: envelope },
    ]);
    envelopeWarm = { atReady, duringOps: byOperation(kms.calls.slice(opsFrom)) };
  } finally {
    await pool?.end().catch(() => {});
    await kms?.stop();
    await postgres?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }

  const latency = await latencyBoth();
  const finishedAt = new Date();

  const machine = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverage1m: { start: round(loadAtStart, 2), end: round(loadavg()[0] ?? 0, 2) },
    ...(SCALE === 1 ? {} : { scale: SCALE }),
  };
  const seconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
  const plainCost = costs[0]!;
  const lines = [
    `sealing bench, ${startedAt.toISOString()} (${seconds.toFixed(0)} s), Node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel})`,
    `load average (1 min) ${machine.loadAverage1m.start} at start, ${machine.loadAverage1m.end} at end${SCALE === 1 ? '' : `, BENCH_SCALE=${SCALE}`}`,
    '',
    `1. Per call, µs (${OPS} seals, then ${OPS} opens, of a 22-character access token; awaited, as a caller pays it)`,
    table(
      ['codec', 'seal p50', 'p99', 'mean', 'open p50', 'p99', 'mean', 'stored chars'],
      costs.map((cost) => [
        cost.codec,
        us(cost.sealUs.p50),
        us(cost.sealUs.p99),
        us(cost.sealUs.mean),
        us(cost.openUs.p50),
        us(cost.openUs.p99),
        us(cost.openUs.mean),
        String(cost.sealedChars),
      ]),
    ),
    `  over plaintext at p50: ${costs
      .slice(1)
      .map(
        (cost) =>
          `${cost.codec.split(' ')[0]} seal +${us(cost.sealUs.p50 - plainCost.sealUs.p50)}, open +${us(cost.openUs.p50 - plainCost.openUs.p50)}`,
      )
      .join('; ')}`,
    `  envelope codec's KMS calls: ${calls(envelopeWarm.atReady)} at ready() (the key existed), ${calls(envelopeWarm.duringOps)} during ${2 * (OPS + WARMUP_OPS) + 1} seals and opens`,
    '',
    `2. Per container per simulated hour (${HOUR_BATCHES} batches of ${BATCH} at once, every ${HOUR_MS / HOUR_BATCHES / 1000} s; current key rechecked every ${CURRENT_KEY_RECHECK_MS / 1000} s)`,
    table(
      [
        'container, hour',
        'seals',
        'opens',
        'KMS calls',
        'by operation',
        'current-key look-ups',
        'by-id look-ups',
      ],
      hours.map((hour) => [
        hour.container,
        String(hour.seals),
        String(hour.opens),
        String(hour.kmsCallsTotal),
        calls(hour.kmsCalls),
        String(hour.currentKeyLookups),
        String(hour.keyByIdLookups),
      ]),
    ),
    ...hours
      .filter((hour) => hour.rotation)
      .map(
        (hour) =>
          `  rotation at minute ${hour.rotation!.atMinute}: rotate-key's own KMS calls ${calls(hour.rotation!.rotateKeyKmsCalls)}; the container sealed under the new key ${hour.rotation!.takenUpAfterSeconds} s later`,
      ),
    '',
    `3. The exchange, INSERT commit → token row commit, ms (${CODES} codes at ${RATE_PER_SECOND}/s a run, sandbox answering at once; a fresh stack each run, in turn)`,
    table(
      [
        'stack, round',
        'p50',
        'p95',
        'p99',
        'mean',
        'max',
        '→store tx p50',
        'store tx p50',
        'a seal, p50 µs',
        'rows sealed / plain',
        'not exchanged',
      ],
      latency.map((run) => [
        `${run.sealing}, round ${run.round}`,
        run.endToEndMs.p50.toFixed(2),
        run.endToEndMs.p95.toFixed(2),
        run.endToEndMs.p99.toFixed(2),
        run.endToEndMs.mean.toFixed(2),
        run.endToEndMs.max.toFixed(2),
        run.stagesP50Ms.toStoreTransaction.toFixed(2),
        run.stagesP50Ms.storeTransaction.toFixed(2),
        us(run.sealInStackUs.p50),
        `${run.rows.sealed} / ${run.rows.plaintext}`,
        JSON.stringify(run.notExchanged),
      ]),
    ),
    `  a seal: TokenCodec.seal in the stack, call to resumption (two per code, warm-up included), the event loop shared with the relay and the runner`,
    ...latency
      .filter((run) => run.kmsCalls)
      .map(
        (run) =>
          `  round ${run.round}, the kms stack's KMS calls: ${calls(run.kmsCalls!.atStart)} at its start (exchange and refresh runtimes), ${calls(run.kmsCalls!.duringCodes)} during its ${run.endToEndMs.count + LATENCY_WARMUP} codes`,
      ),
  ];
  console.log(lines.join('\n'));

  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: round(seconds, 1),
    machine,
    codecs: costs.map((cost) => ({
      codec: cost.codec,
      sealedChars: cost.sealedChars,
      sealUs: roundUs(cost.sealUs),
      openUs: roundUs(cost.openUs),
    })),
    envelopeCodecKmsCalls: envelopeWarm,
    hours,
    latency,
  };
  await mkdir(resultsDir, { recursive: true });
  const stamp = resultStamp(startedAt);
  await writeFile(join(resultsDir, `sealing-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwritten: bench/results/sealing-${stamp}.json`);
}

function roundUs(summary: Summary): Summary {
  return {
    count: summary.count,
    min: round(summary.min, 3),
    max: round(summary.max, 1),
    mean: round(summary.mean, 3),
    p50: round(summary.p50, 3),
    p95: round(summary.p95, 3),
    p99: round(summary.p99, 3),
  };
}

await main();
