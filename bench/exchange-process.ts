/**
 * Bench only: the exchange as deployed, in a Node process of its own. The Lambda-style runner polls the
 * exchange queue and calls the real exchange handler, configured from the environment as the Lambda is
 * (the local stack's `env`). Settings as the event source mapping: BENCH_BATCH_SIZE and
 * BENCH_MAXIMUM_CONCURRENCY (template defaults otherwise). Prints `ready` once polling; SIGTERM stops it.
 */
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';

import { startLambdaRunner } from '../local/lambda-runner.ts';
import { DEPLOYED } from '../local/stack.ts';
import { createSqsClient } from '../src/aws/sqs.ts';
import { logger } from '../src/commons/logger.ts';
import { silenceMetrics } from '../src/commons/metrics.ts';
import { loadConfig } from '../src/config.ts';
import { createExchangeHandler } from '../src/handlers/exchange.ts';
import { createExchangeRuntime } from '../src/runtime/exchange.ts';

silenceMetrics();
const config = loadConfig('exchange');
const queueUrl = process.env.SQS_QUEUE_URL;
if (!queueUrl) throw new Error('SQS_QUEUE_URL is required');
const runtime = createExchangeRuntime(config);
const client = createSqsClient(config.aws);
const runner = startLambdaRunner({
  client,
  queueUrl,
  handler: createExchangeHandler(() => runtime) as Parameters<typeof startLambdaRunner>[0]['handler'],
  batchSize: Number(process.env.BENCH_BATCH_SIZE ?? DEPLOYED.batchSize),
  maximumBatchingWindowMs: 0,
  maximumConcurrency: Number(process.env.BENCH_MAXIMUM_CONCURRENCY ?? DEPLOYED.maximumConcurrency),
  functionName: 'cafe24-token-exchange',
  timeoutMs: DEPLOYED.exchangeTimeoutSeconds * 1000,
  log: (line) => logger.warn('runner', { detail: line }),
});
process.stdout.write('ready\n');

await new Promise<void>((resolve) => {
  process.once('SIGTERM', () => resolve());
  process.once('SIGINT', () => resolve());
});
await runner.stop();
await runtime.close();
client.destroy();
