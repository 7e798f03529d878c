import { logger } from '../commons/logger.ts';
import { loadConfig } from '../config.ts';
import { listen } from '../install/node-server.ts';
import { createInstallRuntime } from '../runtime/install.ts';

export type ServeOptions = { port: number; host: string };

/** `cafe24-tokens serve`: the install front (GET /install, the callback, /healthz) until SIGINT/SIGTERM. */
export async function serveCommand(options: ServeOptions): Promise<void> {
  const config = loadConfig('install');
  const runtime = createInstallRuntime(config);
  const listening = await listen(runtime.app, options);
  const base = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${listening.port}`;
  const callbackPath = new URL(config.redirect.uri).pathname;
  process.stdout.write(
    `install front on ${base}\n  App URL       ${base}/install\n  callback      ${base}${callbackPath}` +
      `  (registered redirect URI: ${config.redirect.uri})\n` +
      `  hand-off      ${config.exchangeQueue.queueUrl ? 'SQS, at once' : 'the relay (no SQS_QUEUE_URL)'}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  logger.info('stopping install front');
  await listening.close();
  await runtime.close();
}
