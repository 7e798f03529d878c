import { logger } from '../commons/logger.ts';
import { loadConfig } from '../config.ts';
import { DERIVED_CALLBACK_PATH } from '../install/install.ts';
import { listen } from '../install/node-server.ts';
import { createInstallRuntime } from '../runtime/install.ts';

export type ServeOptions = { port: number; host: string };

/** `cafe24-tokens serve`: the install front (GET /install, the callback, /healthz) until SIGINT/SIGTERM. */
export async function serveCommand(options: ServeOptions): Promise<void> {
  const config = loadConfig('install');
  const runtime = createInstallRuntime(config);
  const listening = await listen(runtime.app, options);
  const base = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${listening.port}`;
  const registered = config.redirect.uri;
  const callbackPath = registered === undefined ? DERIVED_CALLBACK_PATH : new URL(registered).pathname;
  process.stdout.write(
    `install front on ${base}\n  App URL       ${base}/install\n  callback      ${base}${callbackPath}` +
      (registered === undefined
        ? '  (no CAFE24_REDIRECT_URI: <the host it is reached at>/callback, which must be the one registered)\n'
        : `  (registered redirect URI: ${registered})\n`) +
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
