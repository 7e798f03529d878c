import { loadConfig } from '../config.ts';
import { exchangeRequested } from '../domain/exchange-code.ts';
import { createExchangeRuntime } from '../runtime/exchange.ts';

/** `cafe24-tokens exchange`: the same domain call as the Lambda's manual event; non-zero exit unless exchanged. */
export async function exchangeCommand(options: { codeId?: string; mall?: string }): Promise<void> {
  const runtime = createExchangeRuntime(loadConfig('exchange'));
  try {
    const mallId = options.mall ?? runtime.config.cafe24.mallId;
    if (options.codeId === undefined && mallId === undefined) {
      throw new Error('give --code-id N or --mall M (or set CAFE24_MALL_ID)');
    }
    const result = await exchangeRequested(runtime.deps, { codeId: options.codeId, mallId });
    if (result.status === 'retry' && result.missing) {
      throw new Error(
        `there is no authorization code with id ${result.codeId} in cafe24.oauth_authorization_codes`,
      );
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const ok =
      result.status === 'exchanged' || (result.status === 'already-done' && result.state === 'exchanged');
    if (!ok) process.exitCode = 1;
  } finally {
    await runtime.close();
  }
}
