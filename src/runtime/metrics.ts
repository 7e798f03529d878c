import {
  count,
  METRIC,
  type RefreshOutcome,
  recordExchangeOutcome,
  recordRefreshOutcome,
} from '../commons/metrics.ts';
import type { ExchangeResult } from '../domain/exchange-code.ts';
import type { RefreshResult } from '../domain/refresh-mall.ts';
import { REFRESH_OUTCOMES } from './refresh-outcomes.ts';

/**
 * The domain reports what happened in its results; these map them onto metrics (commons/metrics.ts).
 * Entry points call them and flush once per invocation; the domain never sees Powertools.
 */

/** One code's result: a final state counts once (`already-done` was counted by whoever finished it). */
export function recordExchangeResult(result: ExchangeResult): void {
  switch (result.status) {
    case 'exchanged':
      recordExchangeOutcome('exchanged', {
        attempts: result.attempts,
        ...(result.latencyMs === undefined ? {} : { latencyMs: result.latencyMs }),
      });
      if (result.token === 'reinstalled') count(METRIC.MallsReinstalled);
      return;
    case 'failed':
    case 'expired':
      recordExchangeOutcome(result.status, { attempts: result.attempts });
      return;
    case 'retry':
      if (result.stashed) count(METRIC.StashUsed);
      return;
    case 'already-done':
      return;
  }
}

/** The dashboard's five refresh outcomes, from the domain's eight statuses (REFRESH_OUTCOMES). */
export function refreshOutcome(result: RefreshResult): RefreshOutcome {
  return REFRESH_OUTCOMES[result.status].metric;
}

/** One mall's refresh result: its outcome, the token requests it took, and the stash when used. */
export function recordRefreshResult(result: RefreshResult): void {
  const attempts = 'attempts' in result ? result.attempts : 0;
  const turnedInvalid = result.status === 'invalid' && result.turnedInvalid === true;
  recordRefreshOutcome(refreshOutcome(result), { attempts, turnedInvalid });
  if (result.status === 'stashed') count(METRIC.StashUsed);
}

/** Stashed tokens stored in the end (the exchange's and the refresh's `flush…Stash`). */
export function recordStashRecovered(stored: number): void {
  if (stored > 0) count(METRIC.StashRecovered, stored);
}
