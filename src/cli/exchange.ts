import { loadConfig } from '../config.ts';
import { exchangeRequested, type ManualResult } from '../domain/exchange-code.ts';
import type { ExchangeStoreOutcome } from '../domain/ports.ts';
import { createExchangeRuntime } from '../runtime/exchange.ts';

/**
 * `cafe24-tokens exchange`: the same domain call as the Lambda's manual event; a line of text (`--json`:
 * the summary the handler returns); non-zero exit unless exchanged.
 */
export async function exchangeCommand(options: {
  codeId?: string;
  mall?: string;
  json?: boolean;
}): Promise<void> {
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
    process.stdout.write(
      options.json ? `${JSON.stringify(result, null, 2)}\n` : `${describeExchange(result)}\n`,
    );
    const ok =
      result.status === 'exchanged' || (result.status === 'already-done' && result.state === 'exchanged');
    if (!ok) process.exitCode = 1;
  } finally {
    await runtime.close();
  }
}

/** What an exchanged line adds about the token row (`removed` is never `exchanged`: rule 11). */
const EXCHANGE_NOTES: Record<ExchangeStoreOutcome, string> = {
  stored: '',
  reinstalled: '; the mall is back (reinstalled)',
  'newer-token-kept': '; a newer token was already stored and kept',
  removed: '',
};

/** One line per outcome, marked as `refresh` marks its malls (✓ done, · nothing to do, ✗ final, ! try again). */
export function describeExchange(result: ManualResult): string {
  const requests = (n: number) => `${n} request${n === 1 ? '' : 's'}`;
  switch (result.status) {
    case 'exchanged':
      return `✓ code ${result.codeId} (${result.mallId}) exchanged (${requests(result.attempts)}); access token expires ${result.expiresAt}${EXCHANGE_NOTES[result.token]}`;
    case 'already-done':
      return result.state === 'exchanged'
        ? `· code ${result.codeId} was already exchanged; not sent again`
        : `✗ code ${result.codeId} was already ${result.state}${result.reason ? `: ${result.reason}` : ''}`;
    case 'failed':
    case 'expired':
      return `✗ code ${result.codeId} (${result.mallId}) ${result.status} (${requests(result.attempts)}): ${result.reason}`;
    case 'retry':
      return `! code ${result.codeId} not exchanged yet, try again: ${result.reason}`;
    case 'nothing-pending':
      return `· no pending code for mall ${result.mallId}`;
  }
}
