/**
 * envelopeDataKeys (the per-container cache of data keys), with a fake KMS and a fake key table and an
 * injected clock: which key is current is looked up once a minute and never trusted past a bound while
 * the database cannot say; a look-up a frozen container started long ago is not waited for; a batch asks
 * once; a wrapped key KMS will never open is unreadable, a passing KMS failure is not.
 */
import { describe, expect, it } from 'vitest';
import { Secret } from '../src/commons/secret.ts';
import {
  DataKeyUnavailable,
  TokenCodec,
  TokenSealError,
  UnknownDataKey,
} from '../src/commons/token-codec.ts';
import {
  CURRENT_KEY_MAX_AGE_MS,
  CURRENT_KEY_RECHECK_MS,
  type DataKeyStore,
  envelopeDataKeys,
  type KeyWrapper,
  type WrappedDataKey,
} from '../src/domain/data-keys.ts';

function setup() {
  let clock = 1_000_000;
  const keys = new Map<string, WrappedDataKey>();
  let currentId: string | undefined;
  const calls = { current: 0, byId: 0, unwrap: 0, generate: 0 };
  let storeDown = false;
  let kmsFailure: Error | undefined;
  /** Held while set: an unwrap that has not answered yet (a container frozen mid-call). */
  let unwrapGate: Promise<void> | undefined;
  const store: DataKeyStore = {
    async current() {
      calls.current += 1;
      if (storeDown) throw new Error('connection terminated');
      return currentId === undefined ? undefined : keys.get(currentId);
    },
    async byId(id) {
      calls.byId += 1;
      if (storeDown) throw new Error('connection terminated');
      return keys.get(id);
    },
    async addFirst(key) {
      if (currentId === undefined) {
        keys.set(key.id, key);
        currentId = key.id;
      }
      return keys.get(currentId)!;
    },
  };
  const wrapper: KeyWrapper = {
    async generate() {
      calls.generate += 1;
      const plaintext = Buffer.alloc(32, calls.generate);
      return {
        plaintext: Buffer.from(plaintext),
        wrapped: Buffer.concat([Buffer.from('w'), plaintext]),
        keyArn: 'arn:k',
      };
    },
    async unwrap(wrapped) {
      calls.unwrap += 1;
      if (unwrapGate) await unwrapGate;
      if (kmsFailure) throw kmsFailure;
      return wrapped.subarray(1);
    },
  };
  const rotate = (id: string, fill: number) => {
    keys.set(id, {
      id,
      kmsKeyArn: 'arn:k',
      wrapped: Buffer.concat([Buffer.from('w'), Buffer.alloc(32, fill)]),
    });
    currentId = id;
  };
  const dataKeys = envelopeDataKeys({ wrapper, store, now: () => clock });
  return {
    dataKeys,
    calls,
    rotate,
    keys,
    advance: (ms: number) => (clock += ms),
    setStoreDown: (down: boolean) => (storeDown = down),
    setKmsFailure: (error: Error | undefined) => (kmsFailure = error),
    gate: () => {
      let open!: () => void;
      unwrapGate = new Promise<void>((resolve) => (open = resolve));
      return () => {
        unwrapGate = undefined;
        open();
      };
    },
  };
}

describe('envelopeDataKeys', () => {
  it('makes the first key once, then looks which is current once a minute, and takes up a rotation', async () => {
    const t = setup();
    const first = await t.dataKeys.current();
    expect(first.id).toMatch(/^kms-[A-Za-z0-9_-]{16}$/);
    expect(t.calls.generate).toBe(1);
    t.advance(CURRENT_KEY_RECHECK_MS - 1);
    await t.dataKeys.current();
    expect(t.calls.current).toBe(1);
    t.rotate('kms-BBBBBBBBBBBBBBBB', 2);
    t.advance(1);
    expect((await t.dataKeys.current()).id).toBe('kms-BBBBBBBBBBBBBBBB');
    expect(t.calls.current).toBe(2);
  });

  it('while the database cannot say, keeps the last key for a bounded time only, then fails', async () => {
    const t = setup();
    const { id } = await t.dataKeys.current();
    t.setStoreDown(true);
    t.advance(CURRENT_KEY_RECHECK_MS);
    expect((await t.dataKeys.current()).id).toBe(id);
    t.advance(CURRENT_KEY_MAX_AGE_MS - CURRENT_KEY_RECHECK_MS);
    await expect(t.dataKeys.current()).rejects.toThrow('connection terminated');
    // The codec says it as a passing fault.
    await expect(new TokenCodec(t.dataKeys).ready()).rejects.toBeInstanceOf(DataKeyUnavailable);
    t.setStoreDown(false);
    expect((await t.dataKeys.current()).id).toBe(id);
  });

  it('stamps a look-up when the database answered, so a slow KMS does not stretch the key’s minute', async () => {
    const t = setup();
    await t.dataKeys.current();
    t.rotate('kms-CCCCCCCCCCCCCCCC', 3);
    t.advance(CURRENT_KEY_RECHECK_MS);
    const release = t.gate();
    const pending = t.dataKeys.current();
    // Frozen with KMS's answer outstanding, thawed much later: a new caller does not wait for that look.
    t.advance(10 * CURRENT_KEY_RECHECK_MS);
    t.rotate('kms-DDDDDDDDDDDDDDDD', 4);
    const later = t.dataKeys.current();
    release();
    expect((await pending).id).toBe('kms-CCCCCCCCCCCCCCCC');
    expect((await later).id).toBe('kms-DDDDDDDDDDDDDDDD');
    // The look that ended late was stamped when it began: the next call looks again.
    const looks = t.calls.current;
    await t.dataKeys.current();
    expect(t.calls.current).toBe(looks);
  });

  it('forgets the current key when told (a write under it was refused), and looks again', async () => {
    const t = setup();
    await t.dataKeys.current();
    t.rotate('kms-EEEEEEEEEEEEEEEE', 5);
    t.dataKeys.forgetCurrent?.();
    expect((await t.dataKeys.current()).id).toBe('kms-EEEEEEEEEEEEEEEE');
  });

  it('asks the table and KMS once for a key a whole batch opens at once', async () => {
    const t = setup();
    t.rotate('kms-FFFFFFFFFFFFFFFF', 6);
    const keys = await Promise.all(Array.from({ length: 10 }, () => t.dataKeys.byId('kms-FFFFFFFFFFFFFFFF')));
    expect(new Set(keys.map((key) => key.toString('hex'))).size).toBe(1);
    expect(t.calls).toMatchObject({ byId: 1, unwrap: 1 });
  });

  it('a key KMS will never open is unreadable; a passing KMS failure is tried again', async () => {
    const t = setup();
    t.rotate('kms-GGGGGGGGGGGGGGGG', 7);
    t.setKmsFailure(
      Object.assign(new Error('KMS Decrypt failed: ThrottlingException (transient)'), { unopenable: false }),
    );
    const codec = new TokenCodec(t.dataKeys);
    const at = { mallId: 'shop', column: 'refresh_token' } as const;
    const sealed = `enc:v1:kms-GGGGGGGGGGGGGGGG:${Buffer.alloc(40).toString('base64url')}`;
    await expect(codec.open(sealed, at)).rejects.toBeInstanceOf(DataKeyUnavailable);
    t.setKmsFailure(
      Object.assign(new Error('KMS Decrypt failed: InvalidCiphertextException'), { unopenable: true }),
    );
    const refused = await codec.open(sealed, at).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TokenSealError);
    expect((refused as Error).message).toMatch(/mall shop .*InvalidCiphertextException/);
    await expect(t.dataKeys.byId('kms-GGGGGGGGGGGGGGGG')).rejects.toBeInstanceOf(UnknownDataKey);
    expect(t.calls.unwrap).toBe(3);
    t.setKmsFailure(undefined);
    expect((await t.dataKeys.byId('kms-GGGGGGGGGGGGGGGG')).equals(Buffer.alloc(32, 7))).toBe(true);
    // A sealed value opens once the key is had.
    const value = await codec.seal(new Secret('token'), at);
    expect((await codec.open(value, at)).reveal()).toBe('token');
  });
});
