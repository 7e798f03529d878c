import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchEnvironment } from './environment.ts';
import { waitUntil } from './environment.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export type ProcessLayout = {
  /** Both children's pids (relay, exchange). */
  pids: { relay: number; exchange: number };
  stop(): Promise<void>;
};

/**
 * The pipeline as it is deployed: the relay and the exchange each in a Node process of its own, beside
 * the bench process that keeps PostgreSQL's client for the inserts, the SQS emulator and the Cafe24
 * sandbox. The stack's in-process relay and runner are stopped first (for good: this environment is
 * then the children's). The relay is the CLI (`cafe24-tokens relay`); the exchange is the Lambda-style
 * runner calling the real handler (bench/exchange-process.ts). Both get the stack's environment, as the
 * relay service and the Lambda get theirs from the template.
 */
export async function startProcessLayout(env: BenchEnvironment): Promise<ProcessLayout> {
  await env.stack.stopRelay();
  await env.stack.runner.stop();
  const childEnv = {
    ...process.env,
    ...env.stack.env,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    BENCH_BATCH_SIZE: env.stack.env.EXCHANGE_CONCURRENCY ?? '10',
    BENCH_MAXIMUM_CONCURRENCY: String(env.maximumConcurrency),
  };
  // BENCH_CHILD_NODE_ARGS: extra Node/V8 flags for both children (GC experiments, say).
  const nodeArgs = (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const start = (args: string[]) =>
    spawn(process.execPath, [...nodeArgs, ...args], {
      cwd: root,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  const relay = start([join(root, 'src/cli/main.ts'), 'relay', '--sweep-seconds', '60']);
  const exchange = start([join(root, 'bench/exchange-process.ts')]);
  const children = [relay, exchange];
  const stop = async () => {
    await Promise.all(children.map(stopChild));
  };
  try {
    relay.stdout?.resume();
    await readyLine(exchange, 15_000);
    // The relay is listening once its session has run LISTEN (it catches up on codes before that anyway).
    await waitUntil(
      async () => {
        const { rows } = await env.pool.query(`select 1 from pg_stat_activity where query ilike 'listen%'`);
        return rows.length > 0;
      },
      15_000,
      'the relay process to LISTEN',
      50,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { pids: { relay: relay.pid!, exchange: exchange.pid! }, stop };
}

async function readyLine(child: ChildProcess, timeoutMs: number): Promise<void> {
  const stdout = child.stdout!;
  stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`the exchange process was not ready in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: string) => {
      seen += chunk;
      if (seen.includes('ready\n')) {
        clearTimeout(timer);
        stdout.off('data', onData);
        stdout.resume();
        resolve();
      }
    };
    stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the exchange process exited (${code}) before it was ready`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
