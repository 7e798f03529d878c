import pLimit from 'p-limit';
import { describeError } from '../commons/errors.ts';
import { discardMetrics, flushMetrics } from '../commons/metrics.ts';
import { loadConfig } from '../config.ts';
import { flushRefreshStash, type RefreshResult, refreshMall } from '../domain/refresh-mall.ts';
import { publishDueMalls } from '../domain/refresh-schedule.ts';
import { recordRefreshResult, recordStashRecovered } from '../runtime/metrics.ts';
import { createRefreshRuntime } from '../runtime/refresh.ts';
import { REFRESH_OUTCOMES, type RefreshMeaning } from '../runtime/refresh-outcomes.ts';
import { createRefreshScheduleRuntime } from '../runtime/refresh-schedule.ts';

/**
 * Exit codes scripts can trust (README "Command line"):
 * 0 every mall named or due has a valid access token; 1 a mall is invalid or missing (needs a new
 * install); 2 configuration error: Cafe24 refused the client credentials or the request (no mall was marked);
 * 3 transient: Cafe24 or the database failed for now, or another process held the mall; try again.
 */
export const REFRESH_EXIT = { ok: 0, mallFailed: 1, configuration: 2, transient: 3 } as const;

export type RefreshCommandOptions = {
  mall?: string;
  due?: boolean;
  force?: boolean;
  /** With --due: publish the due malls to the refresh queue (as the schedule does) instead. */
  queue?: boolean;
  concurrency: number;
  limit: number;
  /** Also print the run's metrics as EMF lines on stdout (where stdout goes to CloudWatch Logs). */
  emf?: boolean;
};

/** `cafe24-tokens refresh --mall M [--force]` or `refresh --due`: one line per mall, never a token. */
export async function refreshCommand(options: RefreshCommandOptions): Promise<void> {
  if ((options.mall === undefined) === !options.due) throw new Error('give either --mall M or --due');
  if (options.force && options.due) throw new Error('--force refreshes one --mall, not every due mall');
  if (options.queue) {
    if (!options.due) throw new Error('--queue publishes the --due malls; give --due');
    return publishDueCommand();
  }
  const runtime = createRefreshRuntime(loadConfig('refresh'), { maxConnections: options.concurrency });
  const { deps } = runtime;
  const results: RefreshResult[] = [];
  // The database (or the stash) failing is transient for the mall: reported on its line, exit 3.
  const refreshOne = async (mallId: string, force: boolean) => {
    const result = await refreshMall(deps, mallId, { force }).catch(
      (error: unknown): RefreshResult => ({
        status: 'transient-failure',
        mallId,
        reason: `not refreshed: ${describeError(error)}`,
        attempts: 0,
      }),
    );
    recordRefreshResult(result);
    return result;
  };
  try {
    recordStashRecovered(await flushRefreshStash(deps));
    if (options.mall !== undefined) {
      const result = await refreshOne(options.mall, options.force ?? false);
      results.push(result);
      print(result);
    } else {
      const malls = await runtime.tokens.dueMalls(deps.policy.aheadMs, options.limit);
      const limit = pLimit(options.concurrency);
      let stopped = false;
      await Promise.all(
        malls.map((mallId) =>
          limit(async () => {
            // A configuration error fails every mall alike: stop instead of asking again per mall.
            if (stopped) return;
            const result = await refreshOne(mallId, false);
            if (result.status === 'configuration-error') stopped = true;
            results.push(result);
            print(result);
          }),
        ),
      );
      process.stdout.write(`${summary(results, malls.length)}\n`);
    }
    await storeStashedBeforeExit(runtime.deps, runtime.config.refresh.stashBucket);
  } catch (error) {
    process.stderr.write(`error: ${describeError(error)}\n`);
    process.exitCode = REFRESH_EXIT.transient;
    return;
  } finally {
    await runtime.close();
    // The lines people read stay clean unless --emf asks for the metrics too.
    if (options.emf) flushMetrics();
    else discardMetrics();
  }
  process.exitCode = exitCode(results);
}

/** `refresh --due --queue`: one run of the schedule, claiming this round's due malls like it does. */
async function publishDueCommand(): Promise<void> {
  const runtime = createRefreshScheduleRuntime(loadConfig('refreshSchedule'));
  try {
    const { published, failed } = await publishDueMalls(runtime.deps);
    process.stdout.write(
      `published ${published} due mall${published === 1 ? '' : 's'} to the refresh queue` +
        `${failed > 0 ? `, ${failed} refused by SQS (published by the next run)` : ''}\n`,
    );
    process.exitCode = failed > 0 ? REFRESH_EXIT.transient : REFRESH_EXIT.ok;
  } catch (error) {
    process.stderr.write(`error: ${describeError(error)}\n`);
    process.exitCode = REFRESH_EXIT.transient;
  } finally {
    await runtime.close();
  }
}

/** This process's stash dies with it: give the database a few more chances before exiting. */
async function storeStashedBeforeExit(
  deps: Parameters<typeof flushRefreshStash>[0],
  bucket: string | undefined,
): Promise<void> {
  for (let round = 0; round < 10 && (await deps.stash.entries()).length > 0; round += 1) {
    await flushRefreshStash(deps);
    if ((await deps.stash.entries()).length > 0) await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  const left = (await deps.stash.entries()).filter((entry) => entry.grant === 'refresh_token');
  const kept: string[] = [];
  const lost: string[] = [];
  for (const { grant, key } of left) ((await deps.stash.durable(grant, key)) ? kept : lost).push(key);
  for (const line of unstoredPairsLines({ kept, lost }, bucket)) process.stderr.write(`error: ${line}\n`);
}

/**
 * What to say of refreshed pairs the database never took, by where they wait: in the stash bucket (safe:
 * the next refresh of the mall stores them), or only in this process, which is about to exit.
 */
export function unstoredPairsLines(
  malls: { kept: string[]; lost: string[] },
  bucket: string | undefined,
): string[] {
  const lines: string[] = [];
  if (malls.kept.length > 0) {
    lines.push(
      `refreshed tokens of ${malls.kept.join(', ')} could not be stored yet; they are kept in the stash ` +
        `bucket${bucket === undefined ? '' : ` ${bucket}`}, and the next refresh of each mall stores them ` +
        'before sending anything',
    );
  }
  if (malls.lost.length > 0) {
    lines.push(
      `refreshed tokens of ${malls.lost.join(', ')} could not be stored and are lost when this process exits; ` +
        (bucket === undefined
          ? 'set TOKEN_STASH_BUCKET so they outlive this process'
          : `the stash bucket ${bucket} refused them too (see the log line before); check its permissions`),
    );
  }
  return lines;
}

export function describeResult(result: RefreshResult): string {
  const requests = (n: number) => `${n} request${n === 1 ? '' : 's'}`;
  switch (result.status) {
    case 'refreshed':
      return `✓ ${result.mallId} refreshed (${requests(result.attempts)}); expires ${result.expiresAt}${result.token === 'stored' ? '' : '; a newer token was already stored and kept'}`;
    case 'skipped-fresh':
      return `· ${result.mallId} fresh, not refreshed; expires ${result.expiresAt}`;
    case 'invalid':
      return `✗ ${result.mallId} invalid: ${result.reason}`;
    case 'missing':
      return `✗ ${result.mallId} missing: no row in cafe24.oauth_tokens`;
    case 'configuration-error':
      return `✗ ${result.mallId} not refreshed, configuration error: ${result.reason}`;
    case 'transient-failure':
      return `! ${result.mallId} failed transiently (${requests(result.attempts)}), still active: ${result.reason}`;
    case 'stashed':
      return `! ${result.mallId} ${result.reason}`;
    case 'locked-by-another':
      return `! ${result.mallId} is being refreshed by ${result.owner}; try again`;
    case 'unreadable':
      return `✗ ${result.mallId} not refreshed, its stored tokens do not open (not marked invalid): ${result.reason}`;
  }
}

function print(result: RefreshResult): void {
  process.stdout.write(`${describeResult(result)}\n`);
}

function summary(results: RefreshResult[], due: number): string {
  const count = (group: RefreshMeaning['summary']) =>
    results.filter((result) => REFRESH_OUTCOMES[result.status].summary === group).length;
  const parts = (['refreshed', 'skipped fresh', 'invalid', 'failed transiently'] as const).map(
    (group) => `${group} ${count(group)}`,
  );
  if (count('unreadable') > 0) parts.push(`unreadable ${count('unreadable')} (not marked invalid)`);
  if (count('configuration error') > 0) {
    parts.push(
      `stopped: configuration error (no mall marked invalid), ${due - results.length} not attempted`,
    );
  }
  return `${due} due: ${parts.join(', ')}`;
}

/** The first of configuration, a failed mall, transient (in that order) among the results' exits. */
export function exitCode(results: RefreshResult[]): number {
  const exits = new Set(results.map((result) => REFRESH_OUTCOMES[result.status].exit));
  const first = (['configuration', 'mallFailed', 'transient'] as const).find((exit) => exits.has(exit));
  return REFRESH_EXIT[first ?? 'ok'];
}
