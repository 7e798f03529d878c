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

/** Removes each secret's text from a string that came from outside (an error description, say). */
export function scrub(text: string, secrets: ReadonlyArray<Secret | undefined>): string {
  let result = text;
  for (const secret of secrets) {
    const value = secret?.reveal();
    if (value && value.length >= 4) result = result.replaceAll(value, REDACTED);
  }
  return result;
}
