import { loadConfig } from '../config.ts';
import { openPool } from '../runtime/database.ts';
import { readStatus, type StatusReport } from '../store/status.ts';

/** `cafe24-tokens status`: every mall's token expiry and the codes pipeline at a glance; never a token. */
export async function statusCommand(options: { json?: boolean }): Promise<void> {
  const pool = openPool(loadConfig('status'), { max: 1, applicationName: 'cafe24-tokens status' });
  try {
    const report = await readStatus(pool);
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
  } finally {
    await pool.end();
  }
}

/** The report as text tables; built from the report alone, which holds no token text to leak. */
export function formatStatus(report: StatusReport): string {
  const lines: string[] = [`Status at ${timestamp(report.now)}`, ''];

  const plaintext = report.tokens.filter((token) => !token.sealed).length;
  const sealing =
    report.tokens.length === 0
      ? ''
      : plaintext === 0
        ? ', all sealed at rest'
        : `, ${plaintext} in plaintext at rest${plaintext < report.tokens.length ? ' (run cafe24-tokens encrypt)' : ''}`;
  lines.push(`Tokens (${report.tokens.length} mall${report.tokens.length === 1 ? '' : 's'}${sealing})`);
  if (report.tokens.length === 0) {
    lines.push('  no rows in cafe24.oauth_tokens');
  } else {
    lines.push(
      ...table([
        ['MALL', 'STATUS', 'ACCESS TOKEN', 'REFRESH TOKEN', 'ISSUED', 'LAST REFRESH'],
        ...report.tokens.map((token) => [
          token.mallId,
          token.status,
          expiry('expires in', 'EXPIRED', token.expiresInSeconds),
          expiry('refresh expires in', 'refresh EXPIRED', token.refreshExpiresInSeconds),
          timestamp(token.issuedAt),
          token.lastRefreshedAt ? timestamp(token.lastRefreshedAt) : 'never',
        ]),
      ]),
    );
    // Why a mall is invalid (it needs a new install), or why its refreshes keep failing; one line each.
    const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();
    for (const token of report.tokens) {
      if (token.status === 'invalid') {
        lines.push(`  ✗ ${token.mallId} invalid: ${oneLine(token.invalidReason ?? 'no reason recorded')}`);
      } else if (token.refreshFailures > 0) {
        lines.push(
          `  ! ${token.mallId} ${token.refreshFailures} refresh failure${token.refreshFailures === 1 ? '' : 's'}` +
            ` since the last success: ${oneLine(token.lastRefreshError ?? '-')}`,
        );
      }
    }
  }

  if (report.removed.length > 0) {
    lines.push(
      '',
      `Removed (${report.removed.length} mall${report.removed.length === 1 ? '' : 's'}, not installed again)`,
    );
    lines.push(
      ...table([
        ['MALL', 'REMOVED', 'WHY'],
        ...report.removed.map((mall) => [
          mall.mallId,
          timestamp(mall.removedAt),
          REMOVAL_CAUSES[mall.cause] ?? mall.cause,
        ]),
      ]),
    );
  }

  const { byStatus, unpublishedPending, oldestPendingAgeSeconds } = report.codes;
  lines.push('', 'Codes');
  lines.push(
    `  ${Object.entries(byStatus)
      .map(([status, count]) => `${status} ${count}`)
      .join(', ')}`,
  );
  lines.push(
    byStatus.pending === 0
      ? '  nothing pending'
      : `  pending: ${unpublishedPending} not yet published to SQS, oldest ${formatDuration(oldestPendingAgeSeconds ?? 0)} old`,
  );

  lines.push('', `Recent failures (newest first, ${report.recentFailures.length} shown)`);
  if (report.recentFailures.length === 0) {
    lines.push('  no failed or expired codes');
  } else {
    lines.push(
      ...table([
        ['ID', 'MALL', 'STATUS', 'ATTEMPTS', 'CREATED', 'FINISHED', 'LAST ERROR'],
        ...report.recentFailures.map((code) => [
          code.id,
          code.mallId,
          code.status,
          String(code.attempts),
          timestamp(code.createdAt),
          code.finishedAt ? timestamp(code.finishedAt) : '-',
          // One line per code, whatever the error text holds.
          code.lastError?.replace(/\s+/g, ' ').trim() || '-',
        ]),
      ]),
    );
  }
  lines.push('', `Recent events (newest first, ${report.recentEvents.length} shown)`);
  if (report.recentEvents.length === 0) {
    lines.push('  no events in cafe24.mall_events');
  } else {
    lines.push(
      ...table([
        ['ID', 'MALL', 'EVENT', 'AT', 'EVENTBRIDGE'],
        ...report.recentEvents.map((event) => [
          event.id,
          event.mallId,
          event.kind,
          timestamp(event.occurredAt),
          event.publishedAt ? `published ${timestamp(event.publishedAt)}` : 'not published',
        ]),
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}

const REMOVAL_CAUSES: Record<string, string> = {
  deleted: 'the shop deleted the app (90077)',
  expired: "the app's term ended (90078)",
  forgotten: 'removed by hand (forget)',
};

/** "1h 59m", "13d 23h", "3m", "45s": the two largest units (one below an hour), rounded down. */
export function formatDuration(seconds: number): string {
  const total = Math.floor(Math.abs(seconds));
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3_600);
  const minutes = Math.floor((total % 3_600) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m`;
  return `${total}s`;
}

function expiry(alive: string, dead: string, seconds: number): string {
  return seconds > 0 ? `${alive} ${formatDuration(seconds)}` : `${dead} ${formatDuration(seconds)} ago`;
}

function timestamp(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Left-aligned columns, two spaces apart, indented under their heading. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    `  ${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')}`.trimEnd(),
  );
}
