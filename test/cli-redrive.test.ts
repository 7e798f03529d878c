import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Message, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { describe, test } from 'vitest';
import { type LocalSqs, type LocalSqsOptions, startLocalSqs } from '../local/sqs.ts';
import { exchangeMessage } from '../src/queue/messages.ts';
import { queueDepth } from './support/sqs.ts';
import { waitFor } from './support/wait.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const execFileAsync = promisify(execFile);

type Cleanup = { onTestFinished: (fn: () => Promise<void> | void) => void };
type CliResult = { code: number; stdout: string; stderr: string };

async function localSqs(test: Cleanup, options: LocalSqsOptions = {}): Promise<LocalSqs> {
  const sqs = await startLocalSqs(options);
  test.onTestFinished(() => sqs.stop());
  return sqs;
}

function sqsEnv(sqs: LocalSqs): Record<string, string> {
  return {
    SQS_QUEUE_URL: sqs.queueUrl,
    SQS_DLQ_URL: sqs.dlqUrl,
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_REGION: sqs.region,
  };
}

/** `cafe24-tokens ...` as a child process, with nothing of this process's environment but PATH. */
async function cli(args: string[], env: Record<string, string>): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['src/cli/main.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** One receive that leaves the message visible again at once, so it counts towards maxReceiveCount. */
async function receiveAndLetGo(client: SQSClient, queueUrl: string): Promise<Message[]> {
  const output = await client.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 0, MaxNumberOfMessages: 10 }),
  );
  return output.Messages ?? [];
}

const codeIdOf = (message: Message) => JSON.parse(message.Body ?? '').codeId;

describe('cafe24-tokens redrive', () => {
  test.concurrent('lists a dead-lettered code with --dry-run, then moves it back', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context, { visibilityTimeoutSeconds: 1, maxReceiveCount: 1 });
    await sqs.client.send(
      new SendMessageCommand({ QueueUrl: sqs.queueUrl, MessageBody: exchangeMessage(42) }),
    );
    expect((await receiveAndLetGo(sqs.client, sqs.queueUrl)).map(codeIdOf)).toEqual(['42']);
    // Received past maxReceiveCount: the next receive hands it to the DLQ instead.
    await waitFor(
      async () =>
        (await receiveAndLetGo(sqs.client, sqs.queueUrl)).length === 0 &&
        (await queueDepth(sqs.client, sqs.dlqUrl)) === 1,
      5_000,
      'the message to dead-letter',
    );

    const listed = await cli(['redrive', '--dry-run'], sqsEnv(sqs));
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^mode: dry-run\nin DLQ: 1 message\(s\), none moved\n/);
    expect(listed.stdout).toMatch(/KIND\s+CODE ID\s+RECEIVE COUNT\s+MESSAGE ID/);
    const row = listed.stdout.match(/^exchange\s+42\s+(\d+)\s+\S+$/m);
    expect(row, listed.stdout).not.toBeNull();
    expect(Number(row![1])).toBeGreaterThan(1);
    // The summary is said once: stdout has it, stderr does not repeat it.
    const messageId = listed.stdout.match(/^exchange\s+42\s+\d+\s+(\S+)$/m)![1]!;
    expect(`${listed.stdout}${listed.stderr}`.split(messageId)).toHaveLength(2);
    expect(listed.stderr).not.toMatch(/none moved|in the DLQ/);
    expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(0);
    expect(await queueDepth(sqs.client, sqs.dlqUrl)).toBe(1);

    const moved = await cli(['redrive'], sqsEnv(sqs));
    expect(moved.code).toBe(0);
    expect(moved.stdout).toBe('mode: receive-send-delete\nmoved: 1\nfailed: 0\n');
    expect(moved.stderr).toContain('StartMessageMoveTask is not available');
    expect(await queueDepth(sqs.client, sqs.dlqUrl)).toBe(0);
    expect((await receiveAndLetGo(sqs.client, sqs.queueUrl)).map(codeIdOf)).toEqual(['42']);
  });

  test.concurrent('--max caps the move', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context);
    for (const codeId of [1, 2, 3]) {
      await sqs.client.send(
        new SendMessageCommand({ QueueUrl: sqs.dlqUrl, MessageBody: exchangeMessage(codeId) }),
      );
    }

    const moved = await cli(['redrive', '--max', '2'], sqsEnv(sqs));
    expect(moved.code).toBe(0);
    expect(moved.stdout).toBe('mode: receive-send-delete\nmoved: 2\nfailed: 0\n');
    expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(2);
    expect(await queueDepth(sqs.client, sqs.dlqUrl)).toBe(1);
  });

  test.concurrent('refuses a bad --max and a missing DLQ URL with a non-zero exit', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context);

    const badMax = await cli(['redrive', '--max', '0'], sqsEnv(sqs));
    expect(badMax.code).not.toBe(0);
    expect(badMax.stderr).toContain('must be a positive whole number');

    const { SQS_DLQ_URL: _dropped, ...withoutDlq } = sqsEnv(sqs);
    const noDlq = await cli(['redrive'], withoutDlq);
    expect(noDlq.code).toBe(2);
    expect(noDlq.stderr).toContain('SQS_DLQ_URL is required');
    expect(noDlq.stdout).toBe('');
  });
});
