import * as z from 'zod/mini';
import { codeIdSchema, isCodeId, isMallId, mallIdSchema } from '../commons/ids.ts';

export const exchangeMessageSchema = z.strictObject({
  kind: z.literal('exchange'),
  codeId: codeIdSchema,
});

export type ExchangeMessage = z.infer<typeof exchangeMessageSchema>;

/** One mall to refresh; on the refresh queue only (refreshes must never delay a code). */
export const refreshMessageSchema = z.strictObject({
  kind: z.literal('refresh'),
  mallId: mallIdSchema,
});

export type RefreshMessage = z.infer<typeof refreshMessageSchema>;

/** Every message kind; each queue's handler says which kinds it takes (the others are malformed there). */
export const queueMessageSchema = z.discriminatedUnion('kind', [exchangeMessageSchema, refreshMessageSchema]);

export type QueueMessage = z.infer<typeof queueMessageSchema>;
export type MessageKind = QueueMessage['kind'];

const knownKinds: readonly MessageKind[] = queueMessageSchema.def.options.map(
  (option) => option.shape.kind.def.values[0] as MessageKind,
);

export type ParseMessageResult = { ok: true; message: QueueMessage } | { ok: false; reason: string };

/** Parses an SQS body; the reason names what is wrong but never echoes values from the body. */
export function parseMessageBody(body: string): ParseMessageResult {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    // V8's SyntaxError quotes the input, so its message is not used.
    return { ok: false, reason: 'body is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: `body must be a JSON object, got ${describeType(value)}` };
  }
  const kind = (value as Record<string, unknown>).kind;
  if (kind === undefined) return { ok: false, reason: 'kind is required' };
  if (typeof kind !== 'string' || !(knownKinds as readonly string[]).includes(kind)) {
    const shown = showableKind(kind);
    return {
      ok: false,
      reason: `unknown kind${shown === undefined ? '' : ` "${shown}"`} (expected ${knownKinds.join(' | ')})`,
    };
  }
  const result = queueMessageSchema.safeParse(value);
  if (result.success) return { ok: true, message: result.data };
  return { ok: false, reason: result.error.issues.map(describeIssue).join('; ') };
}

/** The body for an exchange message; throws on an id that could not be a code id. */
export function exchangeMessage(codeId: string | bigint | number): string {
  if (typeof codeId === 'number' && !Number.isSafeInteger(codeId)) {
    throw new TypeError('codeId must be a safe integer');
  }
  const result = exchangeMessageSchema.safeParse({ kind: 'exchange', codeId: String(codeId) });
  if (!result.success) throw new TypeError(result.error.issues.map(describeIssue).join('; '));
  return JSON.stringify(result.data satisfies ExchangeMessage);
}

/** The body for a refresh message; throws on a value that could not be a mall id. */
export function refreshMessage(mallId: string): string {
  const result = refreshMessageSchema.safeParse({ kind: 'refresh', mallId });
  if (!result.success) throw new TypeError(result.error.issues.map(describeIssue).join('; '));
  return JSON.stringify(result.data satisfies RefreshMessage);
}

/** A kind safe to print: a short lower-case word, never arbitrary text from a body. */
function showableKind(kind: unknown): string | undefined {
  return typeof kind === 'string' && /^[a-z][a-z0-9_-]{0,31}$/.test(kind) ? kind : undefined;
}

export type MessageDescription = { kind: string; codeId: string | undefined; mallId?: string };

/**
 * What an operator may see of any body, parseable or not (a DLQ listing): its kind and the code id
 * (exchange) or mall id (refresh) it names, each only when well formed; nothing else of the body is
 * ever shown.
 */
export function describeMessageBody(body: string): MessageDescription {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { kind: 'unparseable', codeId: undefined };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'unknown', codeId: undefined };
  }
  const fields = value as Record<string, unknown>;
  const kind = showableKind(fields.kind) ?? 'unknown';
  const codeId = typeof fields.codeId === 'string' && isCodeId(fields.codeId) ? fields.codeId : undefined;
  if (kind !== 'refresh') return { kind, codeId };
  const mallId = typeof fields.mallId === 'string' && isMallId(fields.mallId) ? fields.mallId : undefined;
  return { kind, codeId, ...(mallId === undefined ? {} : { mallId }) };
}

/** `codeId=41` or `mallId=shop` (for a refresh message): the one id a DLQ line shows. */
export function describeMessageIds(description: MessageDescription): string {
  if (description.kind === 'refresh') return `mallId=${description.mallId ?? '-'}`;
  return `codeId=${description.codeId ?? '-'}`;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const names = issue.keys.filter((key) => /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key));
    const listed = names.length === issue.keys.length ? `: ${names.join(', ')}` : ` (${issue.keys.length})`;
    return `unexpected field${issue.keys.length === 1 ? '' : 's'}${listed}`;
  }
  const field = issue.path.map(String).join('.') || 'body';
  return `${field} ${issue.message}`;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
