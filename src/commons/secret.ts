import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A value that must never reach a log, a message or an error: every way of turning it into text
 * (String(), JSON, util.inspect, template literals) yields "[redacted]". Only `reveal()` gives it up,
 * at the one place that sends it.
 */
export class Secret<T = string> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}

/**
 * Removes each secret from a string that came from outside (an error description, a proxy's page), in
 * every encoding it travels in: as is, URL- and form-encoded, base64 and base64url, JSON-escaped.
 * A credential built from secrets (a Basic header) is a secret of its own: pass it too.
 */
export function scrub(text: string, secrets: ReadonlyArray<Secret | undefined>): string {
  const forms = secrets
    .map((secret) => secret?.reveal())
    .filter((value): value is string => value !== undefined && value.length >= 4)
    .flatMap((value) => [...encodings(value)]);
  // Longest first across all secrets, so a form that contains another (a Basic credential holds the
  // client secret's base64) is replaced whole.
  let result = text;
  for (const form of forms.sort((a, b) => b.length - a.length)) result = result.replaceAll(form, REDACTED);
  return result;
}

function encodings(value: string): Set<string> {
  const bytes = Buffer.from(value, 'utf8');
  return new Set([
    value,
    encodeURIComponent(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    bytes.toString('base64'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
    JSON.stringify(value).slice(1, -1),
  ]);
}
