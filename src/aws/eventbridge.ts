import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { AwsConfig } from '../config.ts';
import {
  EVENT_DETAIL_TYPES,
  EVENT_SOURCE,
  eventDetail,
  type MallEventPublisher,
} from '../domain/lifecycle.ts';
import { clientSettings } from './clients.ts';

/** EventBridge takes at most 10 entries per PutEvents. */
const PUT_EVENTS_BATCH = 10;

/**
 * The mall events to an EventBridge bus (PutEvents, 10 a call). The SDK is loaded on first use: a relay
 * without EVENT_BUS_NAME never pays for it. An entry EventBridge refuses is reported failed with its
 * ErrorCode (never its Detail); a call that fails outright fails its entries, and when every call failed
 * the error is thrown, so the caller backs off.
 */
export function eventBridgePublisher(aws: AwsConfig, busName: string): MallEventPublisher {
  let client: Promise<EventBridgeClient> | undefined;
  return async (events) => {
    const sdk = await import('@aws-sdk/client-eventbridge');
    client ??= Promise.resolve(
      new sdk.EventBridgeClient({
        ...clientSettings(aws, 'eventbridge'),
        maxAttempts: 3,
        requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000 },
      }),
    );
    const eventBridge = await client;
    const chunks: (typeof events)[] = [];
    for (let i = 0; i < events.length; i += PUT_EVENTS_BATCH)
      chunks.push(events.slice(i, i + PUT_EVENTS_BATCH));
    const answers = await Promise.allSettled(
      chunks.map((chunk) =>
        eventBridge.send(
          new sdk.PutEventsCommand({
            Entries: chunk.map((event) => ({
              EventBusName: busName,
              Source: EVENT_SOURCE,
              DetailType: EVENT_DETAIL_TYPES[event.kind],
              Detail: JSON.stringify(eventDetail(event)),
              Time: event.occurredAt,
            })),
          }),
        ),
      ),
    );
    const result: Awaited<ReturnType<MallEventPublisher>> = { published: [], failed: [] };
    answers.forEach((answer, index) => {
      const chunk = chunks[index] ?? [];
      if (answer.status === 'rejected') {
        const reason = answer.reason instanceof Error ? answer.reason.name : 'PutEvents failed';
        for (const event of chunk) result.failed.push({ id: event.id, reason });
        return;
      }
      chunk.forEach((event, at) => {
        const entry = answer.value.Entries?.[at];
        if (entry?.EventId && !entry.ErrorCode) result.published.push(event.id);
        else
          result.failed.push({
            id: event.id,
            reason: `${entry?.ErrorCode ?? 'no answer'}: ${entry?.ErrorMessage ?? ''}`.trim(),
          });
      });
    });
    if (
      result.published.length === 0 &&
      answers.length > 0 &&
      answers.every((answer) => answer.status === 'rejected')
    ) {
      throw (answers[0] as PromiseRejectedResult).reason;
    }
    return result;
  };
}
