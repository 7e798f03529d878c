import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { describeMessageBody, describeMessageIds } from '../queue/messages.ts';

export type RedriveOptions = {
  client: SQSClient;
  dlqUrl: string;
  queueUrl: string;
  /** List what is in the DLQ (kind, code id, receive count) and leave it there. */
  dryRun?: boolean;
  /** Stop after this many messages; a message move task cannot be capped, so this moves by hand. */
  maxMessages?: number;
  /** Long poll per receive; SQS short polls may miss messages, so a second is waited at the end. */
  waitTimeSeconds?: number;
  log?: (line: string) => void;
};

export type RedriveMessage = {
  kind: string;
  codeId: string | undefined;
  /** A refresh message's mall. */
  mallId?: string;
  receiveCount: number;
  messageId: string;
};

export type RedriveResult = {
  mode: 'message-move-task' | 'receive-send-delete' | 'dry-run';
  moved: number;
  failed: number;
  messages?: RedriveMessage[];
  /** The StartMessageMoveTask handle, to follow with ListMessageMoveTasks or cancel. */
  taskHandle?: string;
};

/** Long enough that one run never receives the same message twice. */
const holdSeconds = 30;

/**
 * Moves dead-lettered messages back to the exchange queue. StartMessageMoveTask when the endpoint has
 * it; otherwise receive → send → delete, deleting only what the send accepted, so a message may be
 * left in the DLQ but never lost. Redriven messages get new messageIds, which is why the exchange keys
 * on the code id.
 */
export async function redrive(options: RedriveOptions): Promise<RedriveResult> {
  const log = options.log ?? (() => {});
  if (
    options.maxMessages !== undefined &&
    (!Number.isInteger(options.maxMessages) || options.maxMessages < 1)
  ) {
    throw new RangeError('maxMessages must be a positive integer');
  }
  if (options.dryRun) return dryRun(options, log);
  if (options.maxMessages === undefined) {
    const task = await startMoveTask(options, log);
    if (task) return task;
  } else {
    log(`moving at most ${options.maxMessages} message(s) by hand (a message move task cannot be capped)`);
  }
  return moveByHand(options, log);
}

async function dryRun(options: RedriveOptions, log: (line: string) => void): Promise<RedriveResult> {
  const limit = options.maxMessages ?? Number.POSITIVE_INFINITY;
  const held = new Map<string, string>();
  const messages: RedriveMessage[] = [];
  try {
    while (messages.length < limit) {
      const batch = await receive(options, Math.min(10, limit - messages.length));
      const fresh = batch.filter((message) => !held.has(message.MessageId!));
      for (const message of batch) held.set(message.MessageId!, message.ReceiptHandle!);
      if (fresh.length === 0) break;
      for (const message of fresh) {
        const info = describe(message);
        messages.push(info);
        log(
          `${info.messageId} kind=${info.kind} ${describeMessageIds(info)} receiveCount=${info.receiveCount}`,
        );
      }
    }
  } finally {
    // Make everything visible again so the listing leaves the DLQ as it was.
    await release(options.client, options.dlqUrl, [...held.values()], log);
  }
  log(`dry run: ${messages.length} message(s) in the DLQ, none moved`);
  return { mode: 'dry-run', moved: 0, failed: 0, messages };
}

async function startMoveTask(
  options: RedriveOptions,
  log: (line: string) => void,
): Promise<RedriveResult | undefined> {
  const [sourceArn, destinationArn] = await Promise.all([
    queueArn(options.client, options.dlqUrl),
    queueArn(options.client, options.queueUrl),
  ]);
  let taskHandle: string | undefined;
  try {
    const output = await options.client.send(
      new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn }),
    );
    taskHandle = output.TaskHandle;
  } catch (error) {
    if (!isUnsupportedOperation(error)) throw error;
    log(`StartMessageMoveTask is not available here (${errorName(error)}); moving messages by hand`);
    return undefined;
  }
  const moved = await messagesToMove(options.client, sourceArn, options.dlqUrl);
  log(`message move task started: ${taskHandle ?? '(no handle)'}, about ${moved} message(s) to move`);
  return { mode: 'message-move-task', moved, failed: 0, ...(taskHandle ? { taskHandle } : {}) };
}

async function moveByHand(options: RedriveOptions, log: (line: string) => void): Promise<RedriveResult> {
  const limit = options.maxMessages ?? Number.POSITIVE_INFINITY;
  // messageIds already sent in this run: if one comes back (its delete failed), delete it, never resend.
  const sent = new Set<string>();
  const failedIds = new Set<string>();
  const failedHandles: string[] = [];
  const messages: RedriveMessage[] = [];
  let failed = 0;
  try {
    while (messages.length + failed < limit) {
      const batch = await receive(options, Math.min(10, limit - messages.length - failed));
      const fresh = batch.filter(
        (message) => !sent.has(message.MessageId!) && !failedIds.has(message.MessageId!),
      );
      const alreadySent = batch.filter((message) => sent.has(message.MessageId!));
      if (fresh.length === 0 && alreadySent.length === 0) break;

      const toDelete = [...alreadySent];
      if (fresh.length > 0) {
        const output = await options.client.send(
          new SendMessageBatchCommand({
            QueueUrl: options.queueUrl,
            Entries: fresh.map((message, index) => ({
              Id: String(index),
              MessageBody: message.Body ?? '',
              ...(message.MessageAttributes
                ? { MessageAttributes: copyAttributes(message.MessageAttributes) }
                : {}),
            })),
          }),
        );
        for (const entry of output.Successful ?? []) {
          const message = fresh[Number(entry.Id)]!;
          sent.add(message.MessageId!);
          toDelete.push(message);
          const info = describe(message);
          messages.push(info);
          log(`moved ${info.messageId} kind=${info.kind} ${describeMessageIds(info)} as ${entry.MessageId}`);
        }
        for (const entry of output.Failed ?? []) {
          const message = fresh[Number(entry.Id)]!;
          failed += 1;
          failedIds.add(message.MessageId!);
          failedHandles.push(message.ReceiptHandle!);
          log(`send failed for ${message.MessageId}: ${entry.Code ?? 'unknown'}; left in the DLQ`);
        }
      }
      await deleteFromDlq(options.client, options.dlqUrl, toDelete, log);
    }
  } finally {
    await release(options.client, options.dlqUrl, failedHandles, log);
  }
  log(`moved ${messages.length} message(s) from the DLQ, ${failed} failed`);
  return { mode: 'receive-send-delete', moved: messages.length, failed, messages };
}

async function receive(options: RedriveOptions, maxMessages: number): Promise<Message[]> {
  const output = await options.client.send(
    new ReceiveMessageCommand({
      QueueUrl: options.dlqUrl,
      MaxNumberOfMessages: maxMessages,
      VisibilityTimeout: holdSeconds,
      WaitTimeSeconds: options.waitTimeSeconds ?? 1,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      MessageAttributeNames: ['All'],
    }),
  );
  return output.Messages ?? [];
}

async function deleteFromDlq(
  client: SQSClient,
  dlqUrl: string,
  messages: Message[],
  log: (line: string) => void,
): Promise<void> {
  if (messages.length === 0) return;
  const output = await client.send(
    new DeleteMessageBatchCommand({
      QueueUrl: dlqUrl,
      Entries: messages.map((message, index) => ({
        Id: String(index),
        ReceiptHandle: message.ReceiptHandle!,
      })),
    }),
  );
  for (const entry of output.Failed ?? []) {
    const message = messages[Number(entry.Id)];
    log(
      `delete failed for ${message?.MessageId}: ${entry.Code ?? 'unknown'}; it was sent, a copy stays in the DLQ`,
    );
  }
}

/** Visibility 0: the messages can be received again right away. */
async function release(client: SQSClient, queueUrl: string, handles: string[], log: (line: string) => void) {
  for (let index = 0; index < handles.length; index += 10) {
    const chunk = handles.slice(index, index + 10);
    try {
      const output = await client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((handle, position) => ({
            Id: String(position),
            ReceiptHandle: handle,
            VisibilityTimeout: 0,
          })),
        }),
      );
      if (output.Failed?.length)
        log(`${output.Failed.length} message(s) stay hidden for up to ${holdSeconds} s`);
    } catch (error) {
      log(`could not release messages (${errorName(error)}); they reappear within ${holdSeconds} s`);
    }
  }
}

async function queueArn(client: SQSClient, queueUrl: string): Promise<string> {
  const output = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = output.Attributes?.QueueArn;
  if (!arn) throw new Error(`no QueueArn for ${queueUrl}`);
  return arn;
}

async function messagesToMove(client: SQSClient, sourceArn: string, dlqUrl: string): Promise<number> {
  try {
    const output = await client.send(
      new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 1 }),
    );
    const count = output.Results?.[0]?.ApproximateNumberOfMessagesToMove;
    if (count !== undefined) return count;
  } catch {
    // The task is running; the queue's own count is a fair estimate.
  }
  const output = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  return Number(output.Attributes?.ApproximateNumberOfMessages ?? 0);
}

/** Only what is needed to find the code again; the rest of the body is never shown. */
function describe(message: Message): RedriveMessage {
  return {
    ...describeMessageBody(message.Body ?? ''),
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
    messageId: message.MessageId!,
  };
}

/** SendMessage takes only these fields (the list fields are reserved). */
function copyAttributes(
  attributes: Record<string, MessageAttributeValue>,
): Record<string, MessageAttributeValue> {
  const copy: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(attributes)) {
    copy[name] = {
      DataType: value.DataType,
      ...(value.StringValue === undefined ? {} : { StringValue: value.StringValue }),
      ...(value.BinaryValue === undefined ? {} : { BinaryValue: value.BinaryValue }),
    };
  }
  return copy;
}

const unsupportedNames = new Set([
  'InvalidAction',
  'InvalidActionException',
  'UnknownOperationException',
  'UnsupportedOperation',
  'NotImplemented',
]);

/** Emulators (fauxqs, older LocalStack) answer an action they lack with one of these. */
function isUnsupportedOperation(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    unsupportedNames.has(error.name) ||
    /unknown (action|operation)|not (yet )?implemented/i.test(error.message)
  );
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'error';
}
