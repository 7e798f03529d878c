import { handle } from 'hono/aws-lambda';
import { loadConfig } from '../config.ts';
import { createInstallRuntime } from '../runtime/install.ts';

let lambda: ReturnType<typeof handle> | undefined;

/**
 * The install front behind the HTTP API (payload v2, whose `rawQueryString` keeps the launch hmac's
 * bytes). Built on the first request and kept for the container's life (pool, secret, SQS client).
 */
export const handler: ReturnType<typeof handle> = (event, context) => {
  lambda ??= handle(createInstallRuntime(loadConfig('install')).app);
  return lambda(event, context);
};
