import { describe, expect, it } from 'vitest';
import { revealsSecret, Secret, scrub } from '../src/commons/secret.ts';

const CODE = 'AbCdEf0123456789XyZwVu';
const CLIENT_ID = 'BrIfqEKoPxeE8bqwYB6kAA';
const CLIENT_SECRET = 'zoQxSUptApmiFLRl2ChaxB';
const BASIC = base64(`${CLIENT_ID}:${CLIENT_SECRET}`);
// 22 + 1 + 22 bytes need no base64 padding; a 21-character secret gives a Basic credential ending in "=".
const PADDED_BASIC = base64(`${CLIENT_ID}:${CLIENT_SECRET.slice(0, -1)}`);

/** What the token client passes: the grant's code, the client secret and the Basic credential. */
const CLIENT_SECRETS = [new Secret(CODE), new Secret(CLIENT_SECRET), new Secret(BASIC)];

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function hex(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

function everyBytePercentEncoded(text: string): string {
  return hex(text).replace(/../g, '%$&').toUpperCase();
}

function decimalEntities(text: string): string {
  return [...text].map((char) => `&#${char.codePointAt(0)};`).join('');
}

function hexEntities(text: string): string {
  return [...text].map((char) => `&#x${char.codePointAt(0)!.toString(16)};`).join('');
}

function jsonUnicodeEscapes(text: string): string {
  return [...text].map((char) => `\\u${char.codePointAt(0)!.toString(16).padStart(4, '0')}`).join('');
}

describe('scrub', () => {
  it.each([
    ['the code lower-cased', CLIENT_SECRETS, CODE.toLowerCase()],
    ['the client secret upper-cased', CLIENT_SECRETS, CLIENT_SECRET.toUpperCase()],
    ['the code URL-encoded byte by byte, upper-case hex', CLIENT_SECRETS, everyBytePercentEncoded(CODE)],
    [
      'the code URL-encoded byte by byte, lower-case hex',
      CLIENT_SECRETS,
      everyBytePercentEncoded(CODE).toLowerCase(),
    ],
    [
      'the Basic credential URL-encoded with a lower-case %3d',
      [new Secret(PADDED_BASIC)],
      `${PADDED_BASIC.slice(0, -1)}%3d`,
    ],
    [
      'the Basic credential form-encoded, lower-cased',
      [new Secret(PADDED_BASIC)],
      new URLSearchParams({ v: PADDED_BASIC }).toString().slice(2).toLowerCase(),
    ],
    [
      "the Basic credential's decoded id:secret form-encoded",
      [new Secret(BASIC)],
      new URLSearchParams({ v: `${CLIENT_ID}:${CLIENT_SECRET}` }).toString().slice(2),
    ],
    ['the code double URL-encoded', CLIENT_SECRETS, encodeURIComponent(everyBytePercentEncoded(CODE))],
    [
      'the Basic credential double URL-encoded',
      [new Secret(PADDED_BASIC)],
      encodeURIComponent(encodeURIComponent(PADDED_BASIC)),
    ],
    [
      'the Basic credential base64 without its padding',
      [new Secret(PADDED_BASIC)],
      PADDED_BASIC.replace(/=+$/, ''),
    ],
    ['the code inside a longer base64 value', CLIENT_SECRETS, base64(`code=${CODE}&state=xyz`)],
    [
      'the client secret inside a longer base64url value',
      CLIENT_SECRETS,
      Buffer.from(`{"client_secret":"${CLIENT_SECRET}"}`).toString('base64url'),
    ],
    ['the code base64 lower-cased', CLIENT_SECRETS, base64(CODE).toLowerCase()],
    ['the code JSON-escaped as \\u sequences', CLIENT_SECRETS, jsonUnicodeEscapes(CODE)],
    ['the code as decimal HTML entities', CLIENT_SECRETS, decimalEntities(CODE)],
    ['the code as hex HTML entities', CLIENT_SECRETS, hexEntities(CODE)],
    [
      'the code as HTML entities with leading zeros',
      CLIENT_SECRETS,
      [...CODE].map((char) => `&#000${char.codePointAt(0)};`).join(''),
    ],
    [
      'the code as mixed decimal, hex and upper-case hex HTML entities',
      CLIENT_SECRETS,
      [...CODE]
        .map((char, i) => {
          const point = char.codePointAt(0)!;
          return [`&#${point};`, `&#x0${point.toString(16)};`, `&#X${point.toString(16).toUpperCase()};`][
            i % 3
          ];
        })
        .join(''),
    ],
    [
      'the code as HTML entities, HTML-escaped again',
      CLIENT_SECRETS,
      decimalEntities(CODE).replaceAll('&', '&amp;'),
    ],
    ['the Basic credential as HTML entities', [new Secret(BASIC)], decimalEntities(BASIC)],
    ['the code as lower-case hex', CLIENT_SECRETS, hex(CODE)],
    ['the code as upper-case hex', CLIENT_SECRETS, hex(CODE).toUpperCase()],
    ['the client secret as hex', CLIENT_SECRETS, hex(CLIENT_SECRET)],
    ['the Basic credential as hex', [new Secret(BASIC)], hex(BASIC)],
    [
      'the code partly URL-encoded, partly as HTML entities',
      CLIENT_SECRETS,
      `AbCd%45%66${decimalEntities('0123')}456789XyZwVu`,
    ],
    ['the code URL-encoded, then base64', CLIENT_SECRETS, base64(everyBytePercentEncoded(CODE))],
    ['the code base64, then URL-encoded byte by byte', CLIENT_SECRETS, everyBytePercentEncoded(base64(CODE))],
  ] as const)('removes %s', (_name, secrets, form) => {
    expect(scrub(`invalid_grant: echoed ${form} here`, secrets)).toBe(
      'invalid_grant: echoed [redacted] here',
    );
  });

  it('still removes the forms it always did', () => {
    for (const form of [
      CODE,
      CLIENT_SECRET,
      BASIC,
      base64(CODE),
      base64(CODE).replace(/=+$/, ''),
      Buffer.from(CODE).toString('base64url'),
      encodeURIComponent(PADDED_BASIC),
    ]) {
      expect(scrub(`<p>${form}</p>`, [...CLIENT_SECRETS, new Secret(PADDED_BASIC)])).toBe(
        '<p>[redacted]</p>',
      );
    }
  });

  it('leaves ordinary text alone', () => {
    for (const text of [
      'Invalid refresh_token',
      'The redirect_uri added by Cafe24 Developers is invalid.',
      'https://myshop.cafe24api.com/api/v2/oauth/token',
      'invalid_grant: Invalid authorization code (code has expired or was already used)',
      '<html><head><title>502 Bad Gateway</title></head><body><center>nginx/1.25.3</center></body></html>',
      'grant_type=authorization_code&redirect_uri=https%3A%2F%2Fexample.com%2Fcallback&state=deadbeef0123',
    ]) {
      expect(scrub(text, CLIENT_SECRETS)).toBe(text);
    }
  });

  it('tells whether text reveals a secret in any form scrub knows', () => {
    expect(revealsSecret(`echoed ${hex(CODE)}`, CLIENT_SECRETS)).toBe(true);
    expect(revealsSecret('The redirect_uri added by Cafe24 Developers is invalid.', CLIENT_SECRETS)).toBe(
      false,
    );
    expect(revealsSecret(scrub(`echoed ${decimalEntities(CODE)}`, CLIENT_SECRETS), CLIENT_SECRETS)).toBe(
      false,
    );
  });

  it('ignores secrets shorter than four characters, in every form', () => {
    const text = `abc ${hex('abc')} ${base64('abc')} %61%62%63 &#97;&#98;&#99; ABC`;
    expect(scrub(text, [new Secret('abc'), undefined])).toBe(text);
  });

  it('scrubs a 64 KiB input', () => {
    const forms = [
      CODE.toLowerCase(),
      hex(CLIENT_SECRET),
      decimalEntities(CODE),
      PADDED_BASIC.replace(/=$/, ''),
    ];
    const prose = 'The redirect_uri added by Cafe24 Developers is invalid. ';
    // One long run of characters that decode (base64 of base64), with the code where neither is aligned on it.
    const run = base64(base64(`${'x7Qp'.repeat(400)}${CODE}`));
    let text = '';
    for (let i = 0; text.length < 64 * 1024 - run.length; i++) {
      text += i % 50 === 0 ? `${forms[(i / 50) % forms.length]} ` : prose;
    }
    const secrets = [...CLIENT_SECRETS, new Secret(PADDED_BASIC)];
    const scrubbed = scrub(`${text}${run}`, secrets);
    expect(revealsSecret(scrubbed, secrets)).toBe(false);
    for (const form of forms) expect(scrubbed).not.toContain(form);
    expect(scrubbed).toContain(prose);
    expect(scrubbed.endsWith(' [redacted]')).toBe(true);
  });

  it('scrubs a 64 KiB run of characters that all could carry an encoded value', () => {
    // Hex, then URL-encoded: a form only the second pass finds, after decoys it must get through.
    const tail = everyBytePercentEncoded(hex(CODE));
    const filler = `${'%25'.repeat(10_000)}&#38;#38;${'QUJD'.repeat(9_000)}`.slice(
      0,
      64 * 1024 - tail.length,
    );
    expect(scrub(`${filler}${tail}`, CLIENT_SECRETS)).toBe('[redacted]');
  });
});
