import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Amazon EventBridge's PutEvents, for the local stack and the tests: the real
 * `@aws-sdk/client-eventbridge` talks to it (its endpoint as AWS_ENDPOINT_URL_EVENTBRIDGE). It speaks the
 * wire protocol (AWS JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`) and validates as AWS does: at most 10
 * entries a call, Source, DetailType and a Detail that is a JSON object per entry, 256 KiB a call.
 */

export type ReceivedEvent = {
  eventId: string;
  source: string;
  detailType: string;
  detail: unknown;
  eventBusName: string | undefined;
  at: number;
};

export type LocalEventBridge = {
  readonly endpoint: string;
  readonly events: readonly ReceivedEvent[];
  /** The next `times` calls fail as a whole: 400 ThrottlingException or 500 InternalException. */
  failNext(times?: number, kind?: 'throttle' | 'internal'): void;
  stop(): Promise<void>;
};

const MAX_ENTRIES = 10;
const MAX_CALL_BYTES = 256 * 1024;

type Entry = { Source?: unknown; DetailType?: unknown; Detail?: unknown; EventBusName?: unknown };

export async function startLocalEventBridge(
  options: { host?: string; port?: number; onEvent?: (event: ReceivedEvent) => void } = {},
): Promise<LocalEventBridge> {
  const events: ReceivedEvent[] = [];
  const failures: Array<'throttle' | 'internal'> = [];

  const answer = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
    response.end(JSON.stringify(body));
  };
  const refuse = (response: ServerResponse, status: number, type: string, message: string) =>
    answer(response, status, { __type: type, message });

  const server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const target = request.headers['x-amz-target'];
    if (request.method !== 'POST' || target !== 'AWSEvents.PutEvents') {
      return refuse(response, 400, 'UnknownOperationException', `unknown operation ${String(target)}`);
    }
    const failure = failures.shift();
    if (failure === 'throttle') return refuse(response, 400, 'ThrottlingException', 'Rate exceeded');
    if (failure === 'internal') return refuse(response, 500, 'InternalException', 'internal error');
    if (raw.byteLength > MAX_CALL_BYTES) {
      return refuse(
        response,
        400,
        'ValidationException',
        'Total size of the entries in the request is over the limit',
      );
    }
    let body: { Entries?: Entry[] };
    try {
      body = JSON.parse(raw.toString('utf8')) as { Entries?: Entry[] };
    } catch {
      return refuse(response, 400, 'SerializationException', 'the body is not JSON');
    }
    const entries = Array.isArray(body.Entries) ? body.Entries : [];
    if (entries.length < 1 || entries.length > MAX_ENTRIES) {
      return refuse(
        response,
        400,
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ENTRIES}`,
      );
    }
    let failed = 0;
    const results = entries.map((entry) => {
      const detail = typeof entry.Detail === 'string' ? parseObject(entry.Detail) : undefined;
      if (
        typeof entry.Source !== 'string' ||
        entry.Source === '' ||
        typeof entry.DetailType !== 'string' ||
        entry.DetailType === '' ||
        detail === undefined
      ) {
        failed += 1;
        return {
          ErrorCode: 'InvalidArgument',
          ErrorMessage: 'Parameter(s) Source, DetailType or Detail is not valid.',
        };
      }
      const event: ReceivedEvent = {
        eventId: randomUUID(),
        source: entry.Source,
        detailType: entry.DetailType,
        detail,
        eventBusName: typeof entry.EventBusName === 'string' ? entry.EventBusName : undefined,
        at: Date.now(),
      };
      events.push(event);
      options.onEvent?.(event);
      return { EventId: event.eventId };
    });
    answer(response, 200, { FailedEntryCount: failed, Entries: results });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    endpoint: `http://${options.host ?? '127.0.0.1'}:${address.port}`,
    events,
    failNext(times = 1, kind = 'internal') {
      for (let i = 0; i < times; i += 1) failures.push(kind);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function parseObject(text: string): unknown {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
