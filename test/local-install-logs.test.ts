import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalInstall, startLocalInstall } from '../local/install.ts';
import { logger } from '../src/commons/logger.ts';
import { captureOutput } from './support/capture.ts';
import { lambdaContext } from './support/events.ts';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

const logs = captureOutput();
let stack: ExchangeStack;
let front: LocalInstall;
beforeAll(async () => {
  stack = await startExchangeStack();
  front = await startLocalInstall({ port: 0 });
  await front.attach({ ...stack.env, CAFE24_REDIRECT_URI: front.redirectUri });
});
afterAll(async () => {
  await front.stop();
  await stack.stop();
});

describe('the local install front, sharing a process with the Lambda-style runners', () => {
  it("logs as itself, never with the exchange invocation's function name", async () => {
    // What the local stack's runner did just before: an exchange invocation's context on the shared logger.
    logger.addContext(lambdaContext('cafe24-token-exchange'));
    const answer = await fetch(`${front.origin}/install?mall_id=logmall&hmac=forged`);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    const line = logs
      .text()
      .split('\n')
      .find((text) => text.includes('app launch refused'));
    expect(line).toBeDefined();
    expect(line).not.toContain('cafe24-token-exchange');
    expect(line).toContain('cafe24-install');
  });
});
