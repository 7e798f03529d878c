import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/** Shorter values are not treated as secrets: they would match ordinary words. */
const MIN_SECRET_CHARS = 4;

/** Characters that percent-, form-, HTML-entity-, JSON-, hex- and base64-encoded values are written in. */
const ENCODED_RUN = /[A-Za-z0-9%&#;+/=_.~\\-]+/g;

/** Decodings stacked per run (percent-decoding until stable is one): URL-encoded base64 of hex, and more. */
const MAX_DECODING_DEPTH = 4;

/** Distinct decoded forms examined per run: bounds the work however the run is built. */
const MAX_DECODED_FORMS = 64;

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
 * Removes each secret (of 4 characters or more) from a string that came from outside (an error
 * description, a proxy's page), in two passes, both case-insensitive:
 *
 * 1. every listed form of each secret is replaced, longest first: as is, URL-encoded (as
 *    encodeURIComponent does, and byte by byte), form-encoded, double URL-encoded, base64 with and
 *    without padding, base64url, JSON-escaped, hex, and HTML numeric entities (decimal and hex);
 * 2. every run of characters an encoded value is written in that decodes, in any of those encodings or
 *    a few of them stacked (percent-decoding until stable, then base64, say), to text holding a secret
 *    or its base64, is replaced whole.
 *
 * A credential built from secrets (a Basic header) is a secret of its own: pass it too. When a secret is
 * itself base64 of printable text (as a Basic credential is of `client_id:client_secret`), that text is
 * scrubbed as a secret as well. The work is bounded: at most 64 decoded forms per run, none longer than it.
 */
export function scrub(text: string, secrets: ReadonlyArray<Secret | undefined>): string {
  const values = secretValues(secrets);
  if (values.length === 0) return text;
  const forms = [...new Set(values.flatMap(encodings))].sort((a, b) => b.length - a.length);
  // Longest first across all secrets, so a form that contains another (a Basic credential holds the
  // client secret's base64) is replaced whole.
  let result = text;
  for (const form of forms) result = result.replace(new RegExp(escapeRegExp(form), 'gi'), REDACTED);
  return redactDecodingRuns(result, values);
}

/**
 * Whether `scrub(text, secrets)` would remove anything: true when text holds a secret in any form scrub
 * knows. For checking that a message about to be stored or shown carries no secret.
 */
export function revealsSecret(text: string, secrets: ReadonlyArray<Secret | undefined>): boolean {
  return scrub(text, secrets) !== text;
}

function secretValues(secrets: ReadonlyArray<Secret | undefined>): string[] {
  const values = secrets
    .map((secret) => secret?.reveal())
    .filter((value): value is string => typeof value === 'string' && value.length >= MIN_SECRET_CHARS);
  // A Basic credential leaks its secrets in every encoding of its decoded text too (unpadded base64, say).
  const decoded = values.map(printableBase64Plaintext).filter((value) => value !== undefined);
  return [...new Set([...values, ...decoded])];
}

function printableBase64Plaintext(value: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  // Only a canonical encoding: most random tokens are not one, and those that are decode to binary.
  if (bytes.toString('base64').replace(/=+$/, '') !== value.replace(/=+$/, '')) return undefined;
  const text = bytes.toString('utf8');
  return text.length >= MIN_SECRET_CHARS && /^[^\p{C}\uFFFD]+$/u.test(text) ? text : undefined;
}

function encodings(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const hex = bytes.toString('hex');
  const urlEncoded = encodeURIComponent(value);
  const formEncoded = new URLSearchParams({ v: value }).toString().slice(2);
  const everyBytePercentEncoded = hex.replace(/../g, '%$&');
  const base64 = bytes.toString('base64');
  const base64url = bytes.toString('base64url');
  const json = JSON.stringify(value).slice(1, -1);
  const codePoints = [...value].map((char) => char.codePointAt(0)!);
  return [
    value,
    urlEncoded,
    formEncoded,
    everyBytePercentEncoded,
    encodeURIComponent(urlEncoded),
    encodeURIComponent(formEncoded),
    encodeURIComponent(everyBytePercentEncoded),
    base64,
    base64.replace(/=+$/, ''),
    base64url,
    base64url.padEnd(base64.length, '='),
    json,
    // PHP's json_encode writes "/" as "\/".
    json.replaceAll('/', '\\/'),
    [...value].map((char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
    hex,
    codePoints.map((point) => `&#${point};`).join(''),
    codePoints.map((point) => `&#x${point.toString(16)};`).join(''),
  ].filter((form) => form.length >= MIN_SECRET_CHARS);
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

function redactDecodingRuns(text: string, values: string[]): string {
  const needles = [...new Set(values.flatMap(searchedForms))];
  // No decoding lengthens text, so a run shorter than every secret cannot decode to one.
  const shortest = Math.min(...values.map((value) => value.length));
  return text.replace(ENCODED_RUN, (run) =>
    run.length >= shortest && decodesToNeedle(run, needles, shortest) ? REDACTED : run,
  );
}

/** A secret and its base64, lower-cased, as decoded text would hold them. */
function searchedForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const unpadded = bytes.toString('base64').replace(/=+$/, '');
  // The last character of an unpadded partial group depends on what follows the secret: leave it out.
  const fixed = bytes.length % 3 === 0 ? unpadded : unpadded.slice(0, -1);
  return [value, fixed, fixed.replaceAll('+', '-').replaceAll('/', '_')].map((form) => form.toLowerCase());
}

function decodesToNeedle(run: string, needles: string[], shortest: number): boolean {
  const seen = new Set([run]);
  let layer = [run];
  for (let depth = 0; layer.length > 0; depth++) {
    const next: string[] = [];
    for (const form of layer) {
      const lower = form.toLowerCase();
      if (needles.some((needle) => lower.includes(needle))) return true;
      if (depth === MAX_DECODING_DEPTH) continue;
      for (const decoded of decodings(form, shortest)) {
        if (seen.size >= MAX_DECODED_FORMS) break;
        if (decoded.length < shortest || seen.has(decoded)) continue;
        seen.add(decoded);
        next.push(decoded);
      }
    }
    layer = next;
  }
  return false;
}

/** Each way `text` decodes one step further; stretches of hex or base64 are decoded at every alignment. */
function* decodings(text: string, shortest: number): Generator<string> {
  if (text.includes('%')) {
    let decoded = percentDecoded(text);
    yield decoded;
    // Until stable, so an encoding stacked three or more times costs one step.
    for (let i = 0; i < 8 && decoded.includes('%'); i++) {
      const again = percentDecoded(decoded);
      if (again === decoded) break;
      decoded = again;
    }
    yield decoded;
  }
  if (text.includes('+')) yield percentDecoded(text.replaceAll('+', ' '));
  if (/&#|&amp;/i.test(text)) yield entitiesDecoded(text);
  if (text.includes('\\')) yield jsonUnescaped(text);
  const hexStretches = text.match(new RegExp(`[0-9a-f]{${2 * shortest},}`, 'gi')) ?? [];
  for (const offset of [0, 1]) {
    if (hexStretches.length > 0) {
      yield hexStretches
        .map((stretch) => Buffer.from(stretch.slice(offset), 'hex').toString('utf8'))
        .join('\n');
    }
  }
  const base64Stretches =
    text.match(new RegExp(`[A-Za-z0-9+/_-]{${Math.ceil((4 * shortest) / 3)},}`, 'g')) ?? [];
  for (const offset of [0, 1, 2, 3]) {
    if (base64Stretches.length > 0) {
      yield base64Stretches
        .map((stretch) => Buffer.from(stretch.slice(offset), 'base64').toString('utf8'))
        .join('\n');
    }
  }
}

function percentDecoded(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (escapes) =>
    Buffer.from(escapes.replaceAll('%', ''), 'hex').toString('utf8'),
  );
}

function entitiesDecoded(text: string): string {
  // "&amp;" too: a page that escapes an already escaped value writes "&amp;#97;".
  return text
    .replace(/&amp;/gi, '&')
    .replace(/&#(?:x0*([0-9a-f]{1,6})|0*([0-9]{1,7}));?/gi, (entity, hex?: string, decimal?: string) => {
      const point = hex === undefined ? Number(decimal) : Number.parseInt(hex, 16);
      return point <= 0x10ffff ? String.fromCodePoint(point) : entity;
    });
}

function jsonUnescaped(text: string): string {
  const escapes: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
  return text.replace(/\\u([0-9a-f]{4})|\\(.)/gi, (_escape, unit?: string, char?: string) =>
    unit === undefined ? (escapes[char!] ?? char!) : String.fromCharCode(Number.parseInt(unit, 16)),
  );
}
