import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, test } from 'vitest';
import { type LocalKms, startLocalKms } from '../local/kms.ts';
import { KmsError, type KmsKeyWrapper, kmsKeyWrapper, TOKEN_DATA_KEY_CONTEXT } from '../src/aws/kms.ts';
import type { AwsConfig } from '../src/config.ts';

type Cleanup = { onTestFinished: (fn: () => Promise<void> | void) => void };

/** No KMS endpoint configured and no credentials: the stand-in is given as `endpoint`. */
const AWS: AwsConfig = { region: 'us-east-1', endpoints: {}, credentialsInEnvironment: false };

/** Each test gets its own stand-in, so the tests run concurrently; stopped when the test ends. */
async function localKms(test: Cleanup): Promise<LocalKms> {
  const kms = await startLocalKms();
  test.onTestFinished(() => kms.stop());
  return kms;
}

function wrapper(
  kms: LocalKms,
  options: { keyId?: string; encryptionContext?: Record<string, string>; maxAttempts?: number } = {},
) {
  return kmsKeyWrapper({ keyId: kms.keyId, aws: AWS, endpoint: kms.endpoint, ...options });
}

/** What `promise` was rejected with, as a KmsError. */
async function refusal(promise: Promise<unknown>): Promise<KmsError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(KmsError);
  return error as KmsError;
}

/** No byte of a data key (plain or wrapped) in `text`, in any of the encodings a log could show. */
function expectNoKeyMaterial(text: string, ...keys: Buffer[]) {
  for (const key of keys) {
    for (const encoding of ['base64', 'base64url', 'hex'] as const) {
      expect(text).not.toContain(key.toString(encoding));
      expect(text).not.toContain(key.subarray(0, 12).toString(encoding));
    }
  }
}

describe('kmsKeyWrapper against the local KMS (the real SDK, its JSON protocol)', () => {
  test('generate → unwrap: a 32-byte data key, wrapped under the key and the context', async (t) => {
    const kms = await localKms(t);
    const keys = wrapper(kms);
    const { plaintext, wrapped } = await keys.generate();
    expect(plaintext).toBeInstanceOf(Buffer);
    expect(plaintext).toHaveLength(32);
    expect(wrapped.length).toBeGreaterThan(32);
    expect(wrapped.includes(plaintext)).toBe(false);
    expect((await keys.unwrap(wrapped)).equals(plaintext)).toBe(true);
    // Every data key is new.
    const other = await keys.generate();
    expect(other.plaintext.equals(plaintext)).toBe(false);
    expect(other.wrapped.equals(wrapped)).toBe(false);
    expect(kms.calls).toEqual([
      { target: 'GenerateDataKey', keyId: kms.keyId },
      { target: 'Decrypt', keyId: kms.keyId },
      { target: 'GenerateDataKey', keyId: kms.keyId },
    ]);
  });

  test('the key by ARN or alias wraps and unwraps alike; describe resolves to the ARN', async (t) => {
    const kms = await localKms(t);
    kms.alias('alias/cafe24-tokens', kms.keyId);
    const byAlias = wrapper(kms, { keyId: 'alias/cafe24-tokens' });
    const byArn = wrapper(kms, { keyId: kms.keyArn });
    const { plaintext, wrapped } = await byAlias.generate();
    expect((await byArn.unwrap(wrapped)).equals(plaintext)).toBe(true);
    expect(await byAlias.describe()).toEqual({ keyArn: kms.keyArn, enabled: true });
    expect(await wrapper(kms).describe()).toEqual({ keyArn: kms.keyArn, enabled: true });
  });

  test('a blob of another key is refused (IncorrectKeyException), not decrypted', async (t) => {
    const kms = await localKms(t);
    const otherKey = await kms.createKey();
    const { plaintext, wrapped } = await wrapper(kms, { keyId: otherKey }).generate();
    const error = await refusal(wrapper(kms).unwrap(wrapped));
    expect(error.code).toBe('IncorrectKeyException');
    expect(error.transient).toBe(false);
    expect(error.message).toContain(kms.keyId);
    expect(error.message).toContain('IncorrectKeyException');
    expectNoKeyMaterial(error.message, plaintext, wrapped);
  });

  test('a blob made for another purpose, or tampered with, is refused (InvalidCiphertextException)', async (t) => {
    const kms = await localKms(t);
    const { plaintext, wrapped } = await wrapper(kms).generate();
    const elsewhere = wrapper(kms, { encryptionContext: { ...TOKEN_DATA_KEY_CONTEXT, purpose: 'other' } });
    const error = await refusal(elsewhere.unwrap(wrapped));
    expect(error.code).toBe('InvalidCiphertextException');
    expect(error.transient).toBe(false);
    expect(error.message).toContain(kms.keyId);
    expect(error.message).toContain('another encryption context');
    expect(error.message).not.toContain('UnknownError');
    expectNoKeyMaterial(error.message, plaintext, wrapped);
    // And a blob made under another context does not open under the default one.
    const foreign = await elsewhere.generate();
    expect((await refusal(wrapper(kms).unwrap(foreign.wrapped))).code).toBe('InvalidCiphertextException');
    // Without any context (as another tool would call Decrypt), neither.
    const sdk = new KMSClient({
      region: 'us-east-1',
      endpoint: kms.endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    t.onTestFinished(() => sdk.destroy());
    await expect(sdk.send(new DecryptCommand({ CiphertextBlob: wrapped }))).rejects.toMatchObject({
      name: 'InvalidCiphertextException',
    });
    const tampered = Buffer.from(wrapped);
    tampered[tampered.length - 1]! ^= 1;
    expect((await refusal(wrapper(kms).unwrap(tampered))).code).toBe('InvalidCiphertextException');
    expect((await refusal(wrapper(kms).unwrap(Buffer.from('not a blob')))).code).toBe(
      'InvalidCiphertextException',
    );
    // Encrypt's blobs are KMS blobs too: the stand-in opens them with the same context.
    const sealed = await sdk.send(
      new EncryptCommand({
        KeyId: kms.keyId,
        Plaintext: Buffer.from('hello'),
        EncryptionContext: { a: 'b' },
      }),
    );
    const opened = await sdk.send(
      new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob, EncryptionContext: { a: 'b' } }),
    );
    expect(Buffer.from(opened.Plaintext!).toString()).toBe('hello');
    expect(opened.KeyId).toBe(kms.keyArn);
  });

  test('a disabled key: generate and unwrap refused, naming the key, not transient; describe says so', async (t) => {
    const kms = await localKms(t);
    const keys = wrapper(kms);
    const { plaintext, wrapped } = await keys.generate();
    kms.disable(kms.keyId);
    for (const error of [await refusal(keys.generate()), await refusal(keys.unwrap(wrapped))]) {
      expect(error.code).toBe('DisabledException');
      expect(error.transient).toBe(false);
      expect(error.message).toContain(kms.keyId);
      expect(error.message).toContain('DisabledException');
      expectNoKeyMaterial(error.message, plaintext, wrapped);
    }
    expect(await keys.describe()).toEqual({ keyArn: kms.keyArn, enabled: false });
    kms.enable(kms.keyId);
    expect((await keys.unwrap(wrapped)).equals(plaintext)).toBe(true);
  });

  test('denied: AccessDeniedException on every call, naming the key, not transient, not retried', async (t) => {
    const kms = await localKms(t);
    const keys = wrapper(kms);
    const { plaintext, wrapped } = await keys.generate();
    kms.deny(true);
    const calls = kms.calls.length;
    const errors = [
      await refusal(keys.generate()),
      await refusal(keys.unwrap(wrapped)),
      await refusal(keys.describe()),
    ];
    expect(errors.map((error) => [error.operation, error.code, error.transient])).toEqual([
      ['GenerateDataKey', 'AccessDeniedException', false],
      ['Decrypt', 'AccessDeniedException', false],
      ['DescribeKey', 'AccessDeniedException', false],
    ]);
    for (const error of errors) {
      expect(error.message).toMatch(
        new RegExp(`^KMS \\w+ with key ${kms.keyId} failed: AccessDeniedException`),
      );
      expectNoKeyMaterial(error.message, plaintext, wrapped);
    }
    // One attempt each: the SDK does not retry a refusal.
    expect(kms.calls.length - calls).toBe(3);
  });

  test('an unknown key: NotFoundException naming it', async (t) => {
    const kms = await localKms(t);
    const missing = '00000000-0000-4000-8000-000000000000';
    for (const keys of [wrapper(kms, { keyId: missing }), wrapper(kms, { keyId: 'alias/nope' })]) {
      const error = await refusal(keys.describe());
      expect(error.code).toBe('NotFoundException');
      expect(error.transient).toBe(false);
      expect((await refusal(keys.generate())).code).toBe('NotFoundException');
    }
    expect((await refusal(wrapper(kms, { keyId: missing }).describe())).message).toContain(missing);
  });

  test('KMS throttling or failing inside: transient once the SDK has retried; a blip is retried away', async (t) => {
    const kms = await localKms(t);
    const keys = wrapper(kms);
    kms.failNext(1, 'internal');
    expect(await keys.generate()).toMatchObject({ plaintext: expect.any(Buffer) });
    // One attempt: the SDK backs off half a second and more after a throttle.
    kms.failNext(1, 'throttle');
    const throttled = await refusal(wrapper(kms, { maxAttempts: 1 }).generate());
    expect([throttled.code, throttled.transient]).toEqual(['ThrottlingException', true]);
    kms.failNext(3, 'internal');
    const internal = await refusal(keys.describe());
    expect([internal.code, internal.transient]).toEqual(['KMSInternalException', true]);
    expect(internal.message).toContain(kms.keyId);
  });

  test('the stand-in stopped: a transient network error naming the key', async (t) => {
    const kms = await localKms(t);
    const keys: KmsKeyWrapper = wrapper(kms);
    const { plaintext, wrapped } = await keys.generate();
    await kms.stop();
    const started = Date.now();
    for (const error of [await refusal(keys.unwrap(wrapped)), await refusal(keys.generate())]) {
      expect(error.transient).toBe(true);
      expect(error.code).toBe('ECONNREFUSED');
      expect(error.message).toContain(kms.keyId);
      expect(error.message).toContain('network error');
      expectNoKeyMaterial(error.message, plaintext, wrapped);
    }
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('an empty key id or wrapped key is refused before any call', async (t) => {
    const kms = await localKms(t);
    expect(() => kmsKeyWrapper({ keyId: ' ', aws: AWS })).toThrow(/key id/);
    expect((await refusal(wrapper(kms).unwrap(Buffer.alloc(0)))).transient).toBe(false);
    expect(kms.calls).toEqual([]);
  });
});
