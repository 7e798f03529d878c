import type { RefreshOutcome } from '../commons/metrics.ts';
import type { RefreshResult } from '../domain/refresh-mall.ts';

/** How an entry point answers for one mall's refresh. */
export type RefreshMeaning = {
  /** The dashboard's outcome (`Refresh…` metrics). */
  metric: RefreshOutcome;
  /** The refresh queue's record: done (acknowledged), retried by SQS, or the batch stopped. */
  record: 'done' | 'retry' | 'stop';
  /** `cafe24-tokens refresh`'s exit code for it (REFRESH_EXIT in src/cli/refresh.ts). */
  exit: 'ok' | 'mallFailed' | 'configuration' | 'transient';
  /** Its group in the CLI's `--due` summary line. */
  summary:
    | 'refreshed'
    | 'skipped fresh'
    | 'invalid'
    | 'failed transiently'
    | 'configuration error'
    | 'unreadable';
};

/**
 * What each of the domain's refresh results means for the metrics, the refresh queue, the CLI's exit
 * code and its summary, decided once. `locked-by-another`: another process is refreshing the mall now,
 * so the queue's duplicate is done (the schedule publishes it again if that refresh fails), while a
 * person who asked for the mall cannot be told it is fresh yet: try again (exit 3).
 */
export const REFRESH_OUTCOMES: Readonly<Record<RefreshResult['status'], RefreshMeaning>> = {
  refreshed: { metric: 'refreshed', record: 'done', exit: 'ok', summary: 'refreshed' },
  'skipped-fresh': { metric: 'skipped-fresh', record: 'done', exit: 'ok', summary: 'skipped fresh' },
  // A new install is needed, not a retry.
  invalid: { metric: 'invalid', record: 'done', exit: 'mallFailed', summary: 'invalid' },
  missing: { metric: 'invalid', record: 'done', exit: 'mallFailed', summary: 'invalid' },
  'configuration-error': {
    metric: 'configuration-error',
    record: 'stop',
    exit: 'configuration',
    summary: 'configuration error',
  },
  'transient-failure': {
    metric: 'transient-failure',
    record: 'retry',
    exit: 'transient',
    summary: 'failed transiently',
  },
  // Our data or our key, not Cafe24's: not retried into the DLQ (the schedule publishes the mall again at
  // its next round, alarmed each time), and the mall stays active for when the row or the key is fixed.
  unreadable: { metric: 'unreadable', record: 'done', exit: 'mallFailed', summary: 'unreadable' },
  // The pair is safe in the stash; the next refresh of the mall stores it.
  stashed: { metric: 'transient-failure', record: 'retry', exit: 'transient', summary: 'failed transiently' },
  'locked-by-another': {
    metric: 'transient-failure',
    record: 'done',
    exit: 'transient',
    summary: 'failed transiently',
  },
};
