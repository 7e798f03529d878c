import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * The one metrics instance (Powertools Metrics, CloudWatch embedded metric format): a metric is a JSON
 * line on stdout that CloudWatch Logs turns into a metric, no API call and no extra permission.
 *
 * Dimensions are the service only (Powertools adds `service`; the cold-start metric adds `function_name`):
 * never a mall id, code id or anything secret, which would multiply the metrics, cost and leak.
 * Metrics are buffered and written by `flushMetrics()`, once per invocation (the handlers do it), so the
 * dashboard and alarms in template.yaml read namespace `cafe24-token-issuer`, dimension `service=cafe24-token-issuer`.
 */
export const METRICS_NAMESPACE = 'cafe24-token-issuer';
export const METRICS_SERVICE = 'cafe24-token-issuer';

export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: METRICS_SERVICE,
  // Powertools warns on stdout when a flush has nothing to write; flushMetrics() never asks it to.
  logger: { debug() {}, info() {}, warn() {}, error() {} },
});

/** Every metric this project writes: the dashboard and alarms name them, `template.test.ts` checks. */
export const METRIC = {
  CodesExchanged: 'CodesExchanged',
  CodesFailed: 'CodesFailed',
  CodesExpired: 'CodesExpired',
  /** From the code's INSERT (created_at, the database's clock) to its tokens committed. */
  InsertToTokenLatency: 'InsertToTokenLatency',
  /** Token requests sent to Cafe24 (exchange and refresh). */
  Cafe24Attempts: 'Cafe24Attempts',
  RelayPublished: 'RelayPublished',
  /** From a code's INSERT to SQS accepting it. */
  RelayLag: 'RelayLag',
  /** One per relay invocation or relay sweep: the heartbeat the "relay not running" alarm watches. */
  RelayRuns: 'RelayRuns',
  /** Issued or refreshed tokens put in the stash because the database refused them. */
  StashUsed: 'StashUsed',
  /** Stashed tokens stored in the end. */
  StashRecovered: 'StashRecovered',
  RefreshRefreshed: 'RefreshRefreshed',
  RefreshSkippedFresh: 'RefreshSkippedFresh',
  RefreshInvalid: 'RefreshInvalid',
  RefreshTransientFailure: 'RefreshTransientFailure',
  RefreshConfigurationErrors: 'RefreshConfigurationErrors',
  /**
   * Stored tokens that did not open (changed, moved to another mall or column, sealed under a key this
   * deployment lacks): our data or key, never Cafe24's; nothing sent, the mall not marked invalid. Alarmed.
   */
  TokensUnreadable: 'TokensUnreadable',
  /** Malls a refresh marked invalid (Cafe24 refused the refresh token, or it expired unsent). */
  MallsTurnedInvalid: 'MallsTurnedInvalid',
  /**
   * Token-endpoint answers Cafe24's OAuth does not give (an HTML page, a 404, other JSON, a 200 without a
   * token): a wrong CAFE24_API_BASE_URL or a proxy. Never final for a mall; alarmed.
   */
  Cafe24UnexpectedAnswers: 'Cafe24UnexpectedAnswers',
  /** Malls removed by Cafe24's webhook (90077 deleted, 90078 expired): ordinary, no alarm (`forget` is a person's act). */
  MallsRemoved: 'MallsRemoved',
  /** Malls installed again after a removal, or revived from `invalid` by a new code (`reinstalled` events). */
  MallsReinstalled: 'MallsReinstalled',
  /** Webhook deliveries refused for a missing or wrong X-API-Key: a burst means someone is probing. */
  WebhookKeysRefused: 'WebhookKeysRefused',
  /** Rows of cafe24.mall_events EventBridge accepted from the relay. */
  MallEventsPublished: 'MallEventsPublished',
  /** Powertools' own cold-start metric (dimensions service and function_name). */
  ColdStart: 'ColdStart',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

export type ExchangeOutcome = 'exchanged' | 'failed' | 'expired';

/** The refresh outcomes the dashboard shows; the runtime maps the domain's results onto them. */
export type RefreshOutcome =
  | 'refreshed'
  | 'skipped-fresh'
  | 'invalid'
  | 'transient-failure'
  | 'configuration-error'
  | 'unreadable';

const REFRESH_METRIC: Record<RefreshOutcome, MetricName> = {
  refreshed: METRIC.RefreshRefreshed,
  'skipped-fresh': METRIC.RefreshSkippedFresh,
  invalid: METRIC.RefreshInvalid,
  'transient-failure': METRIC.RefreshTransientFailure,
  'configuration-error': METRIC.RefreshConfigurationErrors,
  unreadable: METRIC.TokensUnreadable,
};

const EXCHANGE_METRIC: Record<ExchangeOutcome, MetricName> = {
  exchanged: METRIC.CodesExchanged,
  failed: METRIC.CodesFailed,
  expired: METRIC.CodesExpired,
};

export function count(name: MetricName, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}

export function milliseconds(name: MetricName, value: number): void {
  metrics.addMetric(name, MetricUnit.Milliseconds, Math.max(0, Math.round(value)));
}

/** A code reached a final state: its outcome, the token requests it took, and for a token its latency. */
export function recordExchangeOutcome(
  outcome: ExchangeOutcome,
  detail: { attempts: number; latencyMs?: number },
): void {
  count(EXCHANGE_METRIC[outcome]);
  if (detail.attempts > 0) count(METRIC.Cafe24Attempts, detail.attempts);
  if (detail.latencyMs !== undefined) milliseconds(METRIC.InsertToTokenLatency, detail.latencyMs);
}

/**
 * One mall's refresh: the outcome, its token requests, and `MallsTurnedInvalid` when this refresh is the
 * one that marked the mall invalid (a mall already invalid counts as an `invalid` outcome only).
 */
export function recordRefreshOutcome(
  outcome: RefreshOutcome,
  detail: { attempts?: number; turnedInvalid?: boolean } = {},
): void {
  count(REFRESH_METRIC[outcome]);
  if (outcome === 'invalid' && detail.turnedInvalid) count(METRIC.MallsTurnedInvalid);
  if ((detail.attempts ?? 0) > 0) count(METRIC.Cafe24Attempts, detail.attempts);
}

/** Codes the relay handed to SQS, each with its INSERT → SQS lag. */
export function recordRelayPublished(published: number, lagsMs: readonly number[] = []): void {
  if (published > 0) count(METRIC.RelayPublished, published);
  for (const lag of lagsMs) milliseconds(METRIC.RelayLag, lag);
}

/** The relay's heartbeat: written on every run even when nothing was published. */
export function recordRelayRun(): void {
  count(METRIC.RelayRuns);
}

let silenced = false;

/**
 * Keeps EMF lines off stdout for the rest of the process (the local stack's terminal is for people):
 * metrics are still recorded, and dropped at each flush.
 */
export function silenceMetrics(): void {
  silenced = true;
}

/** Writes the buffered metrics as EMF (one line per 100 metrics); nothing when none are buffered. */
export function flushMetrics(): void {
  if (silenced) metrics.clearMetrics();
  else if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/** Drops buffered metrics unwritten (a CLI run whose stdout is for people). */
export function discardMetrics(): void {
  metrics.clearMetrics();
}

/** Powertools' `ColdStart` metric, written once per container (it flushes itself). */
export function captureColdStart(functionName?: string): void {
  if (!silenced) metrics.captureColdStartMetric(functionName);
}
