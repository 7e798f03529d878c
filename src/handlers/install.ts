import type { Context } from 'aws-lambda';
import { handle, type LambdaEvent } from 'hono/aws-lambda';
import { loadConfig } from '../config.ts';
import { createInstallRuntime } from '../runtime/install.ts';
import { invocation, perContainer } from './invocation.ts';

const front = perContainer(() => handle(createInstallRuntime(loadConfig('install')).app));

/**
 * The install front behind the HTTP API (payload v2, whose `rawQueryString` keeps the launch hmac's
 * bytes), with the logger, cold-start metric and flush every entry point has.
 */
export const handler = invocation((event: LambdaEvent, context?: Context) => front()(event, context));
