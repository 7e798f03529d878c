/** The codec for tokens at rest: sealed values open only where they were sealed, plaintext passes. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Secret } from '../src/commons/secret.ts';
import {
  isSealed,
  localDataKeys,
  sealedKeyId,
  TokenCodec,
  TokenSealError,
} from '../src/commons/token-codec.ts';

const KEY = randomBytes(32).toString('base64');
const codec = new TokenCodec(localDataKeys(KEY));
const at = { mallId: 'sealmall', column: 'refresh_token' as const };
const TOKEN = 'refresh-token-value-0123456789';

async function refusal(promise: Promise<unknown>): Promise<TokenSealError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TokenSealError);
    expect((error as Error).message).not.toContain(TOKEN);
    return error as TokenSealError;
  }
  throw new Error('it opened');
}

describe('the token codec', () => {
  it('seals as enc:v1:<key id>:…, a fresh IV each time, and opens back', async () => {
    const one = await codec.seal(new Secret(TOKEN), at);
    const two = await codec.seal(new Secret(TOKEN), at);
    expect(one).toMatch(/^enc:v1:local-[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    expect(one).not.toBe(two);
    expect(one).not.toContain(TOKEN);
    expect(isSealed(one)).toBe(true);
    expect(sealedKeyId(one)).toMatch(/^local-/);
    expect((await codec.open(one, at)).reveal()).toBe(TOKEN);
  });

  it('reads plaintext as it is, and writes plaintext without a key', async () => {
    expect((await codec.open(TOKEN, at)).reveal()).toBe(TOKEN);
    const plain = new TokenCodec(undefined);
    expect(plain.sealing).toBe(false);
    expect(await plain.seal(new Secret(TOKEN), at)).toBe(TOKEN);
  });

  it('refuses a value moved to another mall or column, changed, cut, or under another key, naming the mall', async () => {
    const sealed = await codec.seal(new Secret(TOKEN), at);
    expect((await refusal(codec.open(sealed, { ...at, mallId: 'othermall' }))).mallId).toBe('othermall');
    await refusal(codec.open(sealed, { ...at, column: 'access_token' }));
    const bytes = Buffer.from(sealed.split(':')[3]!, 'base64url');
    bytes[20] = bytes[20]! ^ 1;
    const changed = `${sealed.split(':').slice(0, 3).join(':')}:${bytes.toString('base64url')}`;
    expect((await refusal(codec.open(changed, at))).message).toContain(
      'changed, or sealed for another mall or column',
    );
    await refusal(codec.open(sealed.slice(0, 20), at));
    const other = new TokenCodec(localDataKeys(randomBytes(32).toString('base64')));
    expect((await refusal(other.open(sealed, at))).message).toContain('is not there (key local-');
    await refusal(new TokenCodec(undefined).open(sealed, at));
  });

  it('refuses a TOKEN_ENCRYPTION_KEY that is not the base64 of 32 bytes, without the value', () => {
    for (const bad of ['', 'short', randomBytes(16).toString('base64'), `${KEY.slice(0, -2)}!!`]) {
      expect(() => localDataKeys(bad)).toThrow(/base64 of 32 random bytes/);
      try {
        localDataKeys(bad);
      } catch (error) {
        if (bad.length > 4) expect((error as Error).message).not.toContain(bad);
      }
    }
  });
});
