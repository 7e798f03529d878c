import * as z from 'zod/mini';

const codeIdPattern = /^[1-9][0-9]{0,18}$/;
const maxBigint = 9_223_372_036_854_775_807n;

/** A bigserial id as a decimal string: positive, no leading zero, within int8. */
const codeIdSchema = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
  .check(
    z.regex(codeIdPattern, 'must be a positive integer as a decimal string'),
    // zod runs every check even after the regex fails, hence the guard before BigInt().
    z.refine(
      (value) => !codeIdPattern.test(value) || BigInt(value) <= maxBigint,
      'is out of range for a bigint id',
    ),
  );

export const exchangeMessageSchema = z.strictObject({
  kind: z.literal('exchange'),
  codeId: codeIdSchema,
});

export type ExchangeMessage = z.infer<typeof exchangeMessageSchema>;

/** Every message kind on the queue; add a member (e.g. `refresh` with `mallId`) to extend it. */
export const queueMessageSchema = z.discriminatedUnion('kind', [exchangeMessageSchema]);

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
    const shown = typeof kind === 'string' && /^[a-z][a-z0-9_-]{0,31}$/.test(kind) ? ` "${kind}"` : '';
    return { ok: false, reason: `unknown kind${shown} (expected ${knownKinds.join(' | ')})` };
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
