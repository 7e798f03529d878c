/**
 * `npm run bench [part …]`: measures the pipeline on this machine and prints a table beside the targets
 * (informational: a miss never fails the run). Parts: cold-start, floor, latency (includes the floor),
 * burst, capacity, refresh, relay. Results go to bench/results/<timestamp>.json and
 * bench/results/latest.json. BENCH_SCALE=0.1 shrinks every size (a quick look while developing).
 */
// Before anything imports the logger: the stack would otherwise log every exchange.
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resultStamp, round } from './stats.ts';

const PARTS = ['cold-start', 'floor', 'latency', 'burst', 'capacity', 'refresh', 'relay'] as const;
type Part = (typeof PARTS)[number];

const TARGETS = {
  latencyP99Ms: 100,
  // Issue 10 "Delivery at the floor".
  p50OverFloor: 1.6,
  p99OverFloor: 3,
  burstSeconds: 10,
  burstOverFloor: 1.2,
  relayOverRaw: 0.8,
  bundleKb: 300,
  initMs: 100,
  // Issue 9 "Measure".
  refreshRoundMs: 1_000,
};

/** Every size times BENCH_SCALE (default 1): a quick run while developing. */
const SCALE = Number(process.env.BENCH_SCALE ?? '1') || 1;
const size = (n: number) => Math.max(10, Math.round(n * SCALE));

type Verdict = { name: string; value: number; target: string; pass: boolean };
type Row = { section: string } | { label: string; value: string; target?: string; verdict?: boolean };

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

async function main(): Promise<number> {
  const requested = process.argv.slice(2);
  const unknown = requested.filter((arg) => !(PARTS as readonly string[]).includes(arg));
  if (unknown.length > 0) {
    console.error(`unknown part(s): ${unknown.join(', ')}; choose from ${PARTS.join(', ')}`);
    return 2;
  }
  const parts = new Set<Part>(requested.length > 0 ? (requested as Part[]) : PARTS);
  if (parts.has('latency')) parts.add('floor');

  const startedAt = new Date();
  // Other work on the machine shows in the tails: the load is recorded beside the numbers.
  const loadAtStart = loadavg()[0] ?? 0;
  const results: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const verdicts: Verdict[] = [];
  const rows: Row[] = [];
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const progress = (line: string) => process.stderr.write(`· ${line}\n`);
  /** Runs one part; a failure is recorded (and returns true) rather than ending the run. */
  const attempt = async (part: string, work: () => Promise<void>): Promise<boolean> => {
    try {
      await work();
      return false;
    } catch (error) {
      errors[part] = error instanceof Error ? error.message : String(error);
      rows.push({ section: part }, { label: 'error', value: errors[part] });
      return true;
    }
  };

  // Cold start first, while nothing else runs on the machine.
  if (parts.has('cold-start')) {
    await attempt('cold-start', async () => {
      progress('cold start: building and spawning fresh processes');
      const { measureColdStart } = await import('./cold-start.ts');
      const cold = await measureColdStart(10);
      results.coldStart = cold;
      const bundlePass = cold.exchange.kb <= TARGETS.bundleKb;
      const initPass = cold.bundled.initMs <= TARGETS.initMs;
      verdicts.push(
        {
          name: 'exchange bundle KB',
          value: cold.exchange.kb,
          target: `≤ ${TARGETS.bundleKb}`,
          pass: bundlePass,
        },
        {
          name: 'exchange init ms',
          value: cold.bundled.initMs,
          target: `≤ ${TARGETS.initMs}`,
          pass: initPass,
        },
      );
      rows.push(
        { section: `Cold start (median of ${cold.bundled.spawns} fresh processes)` },
        {
          label: 'exchange bundle',
          value: `${cold.exchange.kb} KB (${cold.exchange.bytes} B), gzip ${cold.exchange.gzipKb} KB`,
          target: `≤ ${TARGETS.bundleKb} KB`,
          verdict: bundlePass,
        },
        {
          label: '  largest parts',
          value: cold.exchangeContents
            .slice(0, 3)
            .map((c) => `${c.from} ${c.kb} KB`)
            .join(', '),
        },
        {
          label: 'bundle: import + first no-op invoke',
          value: `${ms(cold.bundled.importMs)} + ${ms(cold.bundled.firstInvokeMs)} = ${ms(cold.bundled.initMs)}`,
          target: `≤ ${TARGETS.initMs} ms`,
          verdict: initPass,
        },
        { label: '  of which external @aws-sdk import', value: ms(cold.externalSdkImportMs) },
        {
          label: 'sources: import + first no-op invoke',
          value: `${ms(cold.unbundled.importMs)} + ${ms(cold.unbundled.firstInvokeMs)} = ${ms(cold.unbundled.initMs)}`,
        },
        {
          label: 'node boot / process wall (bundle)',
          value: `${ms(cold.bundled.nodeBootMs)} / ${ms(cold.bundled.processWallMs)}`,
        },
      );
    });
  }

  const needsStack = ['floor', 'latency', 'burst', 'capacity', 'refresh', 'relay'].some((part) =>
    parts.has(part as Part),
  );
  if (needsStack) {
    progress('starting a fresh PostgreSQL 17 and the local stack');
    const { startBenchEnvironment } = await import('./environment.ts');
    const env = await startBenchEnvironment();
    try {
      let floorMs: number | undefined;
      if (parts.has('floor')) {
        await attempt('floor', async () => {
          progress('floor: each unavoidable step alone');
          const { measureFloor } = await import('./floor.ts');
          const floor = await measureFloor(env);
          results.floor = floor;
          floorMs = floor.floorMs;
          rows.push(
            { section: `Floor (medians of ${floor.samples} isolated runs)` },
            { label: 'NOTIFY round trip (INSERT commit → LISTEN)', value: ms(floor.notifyRoundTripMs) },
            { label: 'SQS SendMessage + ReceiveMessage', value: ms(floor.sqsSendReceiveMs) },
            { label: 'sandbox token call (undici)', value: ms(floor.tokenCallMs) },
            {
              label: 'store: one statement (UPSERT + mark exchanged, one transaction)',
              value: ms(floor.storeTransactionMs),
            },
            {
              label: '  (not in the floor: the same as BEGIN, UPSERT, UPDATE, COMMIT)',
              value: ms(floor.storeFourStatementsMs),
            },
            { label: 'floor = sum', value: ms(floor.floorMs) },
            {
              label: 'not in the floor: one exchange alone (claim, attempt, call, store)',
              value: ms(floor.exchangeAloneMs),
            },
            {
              label: 'parked long poll returns after send ack',
              value: `${ms(floor.longPollWake.afterSendAckMs)} (send alone ${ms(floor.longPollWake.sendMs)})`,
            },
          );
        });
      }

      if (parts.has('latency')) {
        const { measureLatency } = await import('./latency.ts');
        const { startProcessLayout } = await import('./processes.ts');
        // Two layouts of the same pipeline: everything in this one Node process, and as deployed, the
        // relay and the exchange (runner + handler) each in a Node process of its own (a fresh stack).
        // BENCH_LATENCY_LAYOUT=one or =processes runs only one of them.
        const only = process.env.BENCH_LATENCY_LAYOUT;
        const layouts = (
          [
            { key: 'one', name: 'one process', resultKey: 'latency' },
            {
              key: 'processes',
              name: 'as deployed: relay and exchange in processes of their own',
              resultKey: 'latencyProcesses',
            },
          ] as const
        ).filter((layout) => only === undefined || only === '' || only === layout.key);
        for (const layout of layouts) {
          const latency: Record<string, unknown> = { layout: layout.name };
          results[layout.resultKey] = latency;
          let layoutEnv = env;
          let stopLayout = async () => {};
          if (layout.key === 'processes') {
            const failed = await attempt('latency-processes-start', async () => {
              progress('latency: a fresh stack, the relay and the exchange in child processes');
              const { startBenchEnvironment } = await import('./environment.ts');
              const own = await startBenchEnvironment();
              try {
                const children = await startProcessLayout(own);
                layoutEnv = own;
                stopLayout = async () => {
                  await children.stop();
                  await own.stop();
                };
              } catch (error) {
                await own.stop();
                throw error;
              }
            });
            if (failed) continue;
          }
          try {
            for (const delayMs of [0, 100]) {
              await attempt(`latency-${layout.key}-${delayMs}`, async () => {
                progress(`latency (${layout.name}): ${size(500)} codes at 25/s, sandbox delay ${delayMs} ms`);
                const run = await measureLatency(layoutEnv, {
                  label: delayMs === 0 ? 'immediate' : `delay${delayMs}`,
                  codes: size(500),
                  ratePerSecond: 25,
                  sandboxDelayMs: delayMs,
                  // A fresh child process has compiled nothing yet (the bench process has, in the floor's runs).
                  warmup: layout.key === 'processes' ? 200 : 20,
                });
                const e = run.endToEndMs;
                // With a slow sandbox the token call's floor is the sandbox's own delay on top.
                const floor = floorMs === undefined ? undefined : floorMs + delayMs;
                const ratios =
                  floor === undefined
                    ? undefined
                    : {
                        p50OverFloor: round(e.p50 / floor, 2),
                        p99OverFloor: round(e.p99 / floor, 2),
                        floorMs: floor,
                      };
                latency[run.label] = { ...run, ...ratios };
                rows.push(
                  {
                    section: `End to end, ${layout.name}, sandbox ${delayMs === 0 ? 'answering at once' : `after ${delayMs} ms`} (${e.count} codes at ${run.ratePerSecond}/s, INSERT commit → token commit)`,
                  },
                  { label: 'p50 / p95 / p99', value: `${ms(e.p50)} / ${ms(e.p95)} / ${ms(e.p99)}` },
                  { label: 'min / mean / max', value: `${ms(e.min)} / ${ms(e.mean)} / ${ms(e.max)}` },
                  {
                    label: 'p50 stages: →relay tx, →claim, claim, →store tx, store',
                    value: Object.values(run.stagesP50Ms)
                      .map((v) => v.toFixed(1))
                      .join(' | '),
                  },
                  {
                    label: 'relay tx BEGIN → COMMIT (spans the SQS send), p50',
                    value: ms(run.relayTransactionP50Ms),
                  },
                  {
                    label: 'token requests / codes not exchanged',
                    value: `${run.tokenRequests} / ${JSON.stringify(run.notExchanged)}`,
                  },
                );
                if (delayMs === 0) {
                  const pass = e.p99 <= TARGETS.latencyP99Ms;
                  verdicts.push({
                    name: `p99 ms (sandbox at once, ${layout.name})`,
                    value: e.p99,
                    target: `≤ ${TARGETS.latencyP99Ms}`,
                    pass,
                  });
                  rows.push({
                    label: 'p99',
                    value: ms(e.p99),
                    target: `≤ ${TARGETS.latencyP99Ms} ms`,
                    verdict: pass,
                  });
                }
                if (ratios) {
                  const p50Pass = ratios.p50OverFloor <= TARGETS.p50OverFloor;
                  const pass = ratios.p99OverFloor <= TARGETS.p99OverFloor;
                  if (delayMs === 0) {
                    verdicts.push(
                      {
                        name: `p50 / floor (sandbox at once, ${layout.name})`,
                        value: ratios.p50OverFloor,
                        target: `≤ ${TARGETS.p50OverFloor}`,
                        pass: p50Pass,
                      },
                      {
                        name: `p99 / floor (sandbox at once, ${layout.name})`,
                        value: ratios.p99OverFloor,
                        target: `≤ ${TARGETS.p99OverFloor}`,
                        pass,
                      },
                    );
                  }
                  rows.push({
                    label: `p50 / floor, p99 / floor (floor ${ms(floor!)})`,
                    value: `${ratios.p50OverFloor}× , ${ratios.p99OverFloor}×`,
                    ...(delayMs === 0
                      ? {
                          target: `≤ ${TARGETS.p50OverFloor}×, ${TARGETS.p99OverFloor}×`,
                          verdict: p50Pass && pass,
                        }
                      : {}),
                  });
                }
              });
            }
          } finally {
            await stopLayout();
          }
        }
      }

      if (parts.has('burst')) {
        await attempt('burst', async () => {
          progress(`burst: ${size(1_000)} codes in one transaction, sandbox delay 100 ms`);
          const { measureBurst } = await import('./burst.ts');
          const burst = await measureBurst(env, size(1_000));
          results.burst = burst;
          const pass = burst.seconds <= TARGETS.burstSeconds;
          const floorPass = burst.overFloor <= TARGETS.burstOverFloor;
          const exact = burst.tokenRequests === burst.codes && burst.codesRequestedTwice === 0;
          verdicts.push(
            { name: 'burst seconds', value: burst.seconds, target: `≤ ${TARGETS.burstSeconds}`, pass },
            {
              name: 'burst / its floor',
              value: burst.overFloor,
              target: `≤ ${TARGETS.burstOverFloor}`,
              pass: floorPass,
            },
            {
              name: 'burst token requests',
              value: burst.tokenRequests,
              target: `= ${burst.codes}`,
              pass: exact,
            },
          );
          rows.push(
            {
              section: `Burst (${burst.codes} codes in one transaction, sandbox after ${burst.sandboxDelayMs} ms, batch ${burst.batchSize} × concurrency ${burst.maximumConcurrency})`,
            },
            {
              label: 'commit → all exchanged',
              value: `${burst.seconds.toFixed(2)} s`,
              target: `≤ ${TARGETS.burstSeconds} s`,
              verdict: pass,
            },
            {
              label: `its floor (${burst.codes} / ${burst.batchSize * burst.maximumConcurrency} in flight × ${burst.sandboxDelayMs} ms)`,
              value: `${burst.floorSeconds.toFixed(2)} s (${burst.overFloor}×)`,
              target: `≤ ${TARGETS.burstOverFloor}×`,
              verdict: floorPass,
            },
            {
              label: 'per code p50 / p99 / max',
              value: `${ms(burst.perCodeMs.p50)} / ${ms(burst.perCodeMs.p99)} / ${ms(burst.perCodeMs.max)}`,
            },
            {
              label: 'token requests (codes sent twice)',
              value: `${burst.tokenRequests} (${burst.codesRequestedTwice})`,
              target: `= ${burst.codes}`,
              verdict: exact,
            },
            { label: 'codes not exchanged', value: JSON.stringify(burst.notExchanged) },
          );
        });
      }

      if (parts.has('capacity')) {
        await attempt('capacity', async () => {
          progress(`capacity: ${size(5_000)} codes at once, sandbox delay 1,000 ms, default configuration`);
          const { measureCapacity } = await import('./capacity.ts');
          const capacity = await measureCapacity(env, size(5_000), 1_000);
          results.capacity = capacity;
          const none = capacity.expired === 0;
          const exact = capacity.tokenRequests === capacity.codes && capacity.codesRequestedTwice === 0;
          verdicts.push(
            { name: 'capacity: expired', value: capacity.expired, target: '= 0', pass: none },
            {
              name: 'capacity: token requests',
              value: capacity.tokenRequests,
              target: `= ${capacity.codes}`,
              pass: exact,
            },
          );
          rows.push(
            {
              section: `Capacity (${capacity.codes} codes at once, sandbox after ${capacity.sandboxDelayMs} ms, batch ${capacity.batchSize} × concurrency ${capacity.maximumConcurrency})`,
            },
            { label: 'commit → all finished', value: `${capacity.seconds.toFixed(2)} s` },
            { label: 'expired', value: String(capacity.expired), target: '= 0', verdict: none },
            {
              label: 'token requests (codes sent twice)',
              value: `${capacity.tokenRequests} (${capacity.codesRequestedTwice})`,
              target: `= ${capacity.codes}`,
              verdict: exact,
            },
            { label: 'codes not exchanged', value: JSON.stringify(capacity.notExchanged) },
          );
        });
      }

      if (parts.has('refresh')) {
        await attempt('refresh', async () => {
          progress(`refresh: ${size(100_000)} malls, 5 % due, sandbox delay 100 ms`);
          const { measureRefresh } = await import('./refresh.ts');
          const refresh = await measureRefresh(env, { malls: size(100_000) });
          results.refresh = refresh;
          const r = refresh.round;
          const f = refresh.refresh;
          const roundPass = r.ms <= TARGETS.refreshRoundMs && r.indexScan && !r.seqScan;
          const once = f.requestsPerMall.min === 1 && f.requestsPerMall.max === 1;
          verdicts.push(
            {
              name: 'refresh round ms (claim + publish)',
              value: r.ms,
              target: `≤ ${TARGETS.refreshRoundMs}, index scan`,
              pass: roundPass,
            },
            {
              name: 'refresh: Cafe24 requests per mall',
              value: f.requestsPerMall.max,
              target: '= 1',
              pass: once,
            },
          );
          rows.push(
            { section: `Refresh (${refresh.malls} malls, ${refresh.due} due)` },
            {
              label: 'scheduler round: claim and publish the due malls',
              value: `${ms(r.ms)}, ${r.published} published`,
              target: `≤ ${TARGETS.refreshRoundMs} ms`,
              verdict: roundPass,
            },
            {
              label: '  one claim statement alone (first / median); plan',
              value: `${ms(r.claimFirstMs)} / ${ms(r.claimMedianMs)}, ${r.claimed} of ${r.found} due; ${r.indexScan ? 'index scan' : 'no index scan'}${r.seqScan ? ', SEQ SCAN' : ''}`,
            },
            {
              label: `refresh handler, sandbox after ${f.sandboxDelayMs} ms, ${f.maximumConcurrency} × batch ${f.batchSize}`,
              value: `${f.perSecond} malls/s (${f.seconds.toFixed(2)} s), ${JSON.stringify(f.outcomes)}`,
            },
            {
              label: `  connections at peak (pools ${f.maximumConcurrency} × ${f.poolSize})`,
              value: `${f.peakConnections} open, ${f.peakActiveConnections} active`,
            },
            {
              label: '  Cafe24 requests per mall (min / max)',
              value: `${f.requestsPerMall.min} / ${f.requestsPerMall.max} (${f.requestsPerMall.total} in all)`,
              target: '= 1',
              verdict: once,
            },
          );
        });
      }

      if (parts.has('burst')) {
        await attempt('burst-issue-setting', async () => {
          // The issue's baseline ran 10 × 5 in flight (2.0 s floor): the same burst there, on a stack of its own.
          progress(`burst at batch 10 × concurrency 5 (the issue's baseline setting)`);
          const { startBenchEnvironment } = await import('./environment.ts');
          const { measureBurst } = await import('./burst.ts');
          const narrow = await startBenchEnvironment({ maximumConcurrency: 5 });
          try {
            const burst = await measureBurst(narrow, size(1_000));
            results.burstAtFive = burst;
            const pass = burst.overFloor <= TARGETS.burstOverFloor;
            verdicts.push({
              name: 'burst at 10 × 5 / its floor',
              value: burst.overFloor,
              target: `≤ ${TARGETS.burstOverFloor}`,
              pass,
            });
            rows.push(
              { section: `Burst at batch 10 × concurrency 5 (the issue's baseline; a stack of its own)` },
              {
                label: 'commit → all exchanged / its floor',
                value: `${burst.seconds.toFixed(2)} s / ${burst.floorSeconds.toFixed(2)} s (${burst.overFloor}×)`,
                target: `≤ ${TARGETS.burstOverFloor}×`,
                verdict: pass,
              },
              {
                label: 'token requests (codes sent twice)',
                value: `${burst.tokenRequests} (${burst.codesRequestedTwice}), not exchanged ${JSON.stringify(burst.notExchanged)}`,
              },
            );
          } finally {
            await narrow.stop();
          }
        });
      }

      // Last: it stops the runner so that nothing consumes the queue.
      if (parts.has('relay')) {
        await attempt('relay', async () => {
          progress(`relay: ${size(5_000)} unpublished codes vs raw SendMessageBatch`);
          const { measureRelay } = await import('./relay.ts');
          const relay = await measureRelay(env, size(5_000));
          results.relay = relay;
          const pass = relay.ratio >= TARGETS.relayOverRaw;
          verdicts.push({
            name: 'relay / raw',
            value: relay.ratio,
            target: `≥ ${TARGETS.relayOverRaw}`,
            pass,
          });
          rows.push(
            {
              section: `Relay throughput (${relay.codes} codes, ${relay.concurrency} drains / calls in flight)`,
            },
            {
              label: 'relay: startRelay() → all published',
              value: `${relay.relayPerSecond} codes/s (${relay.relaySeconds.toFixed(2)} s)`,
            },
            {
              label: 'raw SendMessageBatch (before, after)',
              value: relay.rawPerSecond.map((r) => `${r}/s`).join(', '),
            },
            {
              label: 'relay / raw (faster)',
              value: `${Math.round(relay.ratio * 100)} %`,
              target: `≥ ${TARGETS.relayOverRaw * 100} %`,
              verdict: pass,
            },
          );
        });
      }
    } finally {
      progress('stopping');
      await env.stop();
    }
  }

  const finishedAt = new Date();
  const machine = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    loadAverage1m: { start: round(loadAtStart, 2), end: round(loadavg()[0] ?? 0, 2) },
    ...(SCALE === 1 ? {} : { scale: SCALE }),
  };
  printTable(rows, machine, startedAt, finishedAt);
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: round((finishedAt.getTime() - startedAt.getTime()) / 1000, 1),
    parts: [...parts],
    machine,
    targets: verdicts,
    results,
    errors,
  };
  await mkdir(resultsDir, { recursive: true });
  const stamp = resultStamp(startedAt);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  await writeFile(join(resultsDir, `${stamp}.json`), json);
  await writeFile(join(resultsDir, 'latest.json'), json);
  console.log(`\nwritten: bench/results/${stamp}.json and bench/results/latest.json`);
  return Object.keys(errors).length > 0 ? 1 : 0;
}

function printTable(
  rows: Row[],
  machine: {
    node: string;
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    loadAverage1m: { start: number; end: number };
  },
  startedAt: Date,
  finishedAt: Date,
): void {
  const labelWidth = Math.max(20, ...rows.map((row) => ('label' in row ? row.label.length : 0)));
  const valueWidth = Math.max(10, ...rows.map((row) => ('value' in row ? row.value.length : 0)));
  const seconds = ((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0);
  const lines = [
    `cafe24-token-issuer bench, ${startedAt.toISOString()} (${seconds} s), Node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB`,
    `load average (1 min) ${machine.loadAverage1m.start} at start, ${machine.loadAverage1m.end} at end${
      Math.max(machine.loadAverage1m.start, machine.loadAverage1m.end) > machine.cpus / 2
        ? ': the machine was busy with other work, expect noisy tails'
        : ''
    }`,
  ];
  for (const row of rows) {
    if ('section' in row) {
      lines.push('', row.section);
      continue;
    }
    const verdict = row.verdict === undefined ? '' : row.verdict ? 'PASS' : 'MISS';
    const target = row.target ?? '';
    lines.push(
      `  ${row.label.padEnd(labelWidth)}  ${row.value.padEnd(valueWidth)}  ${target.padEnd(14)}${verdict}`.trimEnd(),
    );
  }
  console.log(lines.join('\n'));
}

process.exitCode = await main();
