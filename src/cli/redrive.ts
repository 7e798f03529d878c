import { InvalidArgumentError } from 'commander';
import { createSqsClient } from '../aws/sqs.ts';
import { type RedriveResult, redrive } from '../aws/sqs-redrive.ts';
import { loadConfig } from '../config.ts';

/** Parses `--max <n>`. */
export function parseMax(value: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(value)) throw new InvalidArgumentError('must be a positive whole number');
  return Number(value);
}

/**
 * `cafe24-tokens redrive`: moves the DLQ back to the exchange queue (or lists it with --dry-run).
 * The result goes to stdout, progress to stderr; non-zero exit when a message could not be moved.
 */
export async function redriveCommand(options: { dryRun?: boolean; max?: number }): Promise<void> {
  const config = loadConfig('redrive');
  const client = createSqsClient(config.aws);
  try {
    const result = await redrive({
      client,
      queueUrl: config.queue.url,
      dlqUrl: config.dlq.url,
      dryRun: options.dryRun ?? false,
      maxMessages: options.max,
      log: (line) => {
        // A dry run's listing is its result, printed below: stderr keeps only what else happened.
        if (options.dryRun && isListing(line)) return;
        process.stderr.write(`${line}\n`);
      },
    });
    process.stdout.write(formatRedrive(result));
    if (result.failed > 0) process.exitCode = 1;
  } finally {
    client.destroy();
  }
}

/** The lines `redrive`'s dry run logs for each message it lists, and its count. */
function isListing(line: string): boolean {
  return /^\S+ kind=\S+ .*receiveCount=\d+$/.test(line) || line.startsWith('dry run: ');
}

export function formatRedrive(result: RedriveResult): string {
  if (result.mode === 'dry-run') {
    const messages = result.messages ?? [];
    const rows = [
      ['KIND', 'CODE ID', 'RECEIVE COUNT', 'MESSAGE ID'],
      ...messages.map((message) => [
        message.kind,
        message.codeId ?? '-',
        String(message.receiveCount),
        message.messageId,
      ]),
    ];
    const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
    const table = messages.length
      ? rows.map((row) =>
          row
            .map((cell, column) => cell.padEnd(widths[column]!))
            .join('  ')
            .trimEnd(),
        )
      : [];
    return `${[
      'mode: dry-run',
      `in DLQ: ${messages.length} message(s), none moved`,
      ...(table.length ? ['', ...table] : []),
    ].join('\n')}\n`;
  }
  const lines = [`mode: ${result.mode}`, `moved: ${result.moved}`, `failed: ${result.failed}`];
  // A move task runs on inside SQS: its count is the DLQ's size when it started.
  if (result.taskHandle) lines.push(`task: ${result.taskHandle}`);
  return `${lines.join('\n')}\n`;
}
