import { randomBytes } from 'node:crypto';
import { type DataKey, type DataKeys, UnknownDataKey } from '../commons/token-codec.ts';

/**
 * Envelope encryption's key hierarchy (docs/encryption.md): a KMS key wraps data keys, the wrapped data
 * keys live in the database (one current, older ones until `rotate-key` has re-sealed what they sealed),
 * and each container unwraps a data key once and keeps the plain key in memory. KMS is asked only at a
 * container's first seal or open under a key, and to make the very first data key.
 */

/** A data key as the database keeps it: only KMS can unwrap it. */
export type WrappedDataKey = { id: string; kmsKeyArn: string; wrapped: Buffer };

/** KMS, as envelope encryption needs it. */
export type KeyWrapper = {
  /** A new 256-bit data key: plain (never stored, never logged), wrapped, and the KMS key's ARN. */
  generate(): Promise<{ plaintext: Buffer; wrapped: Buffer; keyArn: string }>;
  /** The plain data key of a wrapped one, made under the KMS key `keyArn` (default: the configured one). */
  unwrap(wrapped: Buffer, keyArn?: string): Promise<Buffer>;
};

/** Where wrapped data keys are kept (cafe24.token_data_keys). */
export type DataKeyStore = {
  /** The data key new values are sealed under, if there is one yet. */
  current(): Promise<WrappedDataKey | undefined>;
  byId(id: string): Promise<WrappedDataKey | undefined>;
  /** Keeps `key` as the current one unless another is current already; resolves to the current one. */
  addFirst(key: WrappedDataKey): Promise<WrappedDataKey>;
};

/** How often a container looks which data key is current: `rotate-key` waits twice this before it deletes. */
export const CURRENT_KEY_RECHECK_MS = 60_000;

/** `kms-` and 16 base64url characters (96 random bits): the id in `enc:v1:<key id>:…`. */
export function newDataKeyId(): string {
  return `kms-${randomBytes(12).toString('base64url')}`;
}

/**
 * DataKeys over KMS and the database, cached for the container's life: plain keys by id for as long as
 * the container lives, which key is current for `recheckMs` (a rotation is taken up within it). Two
 * containers that find no key race to add the first; the loser uses the winner's and drops its own.
 * While the database cannot say which key is current, the one known is kept.
 */
export function envelopeDataKeys(options: {
  wrapper: KeyWrapper;
  store: DataKeyStore;
  recheckMs?: number;
  now?: () => number;
}): DataKeys {
  const { wrapper, store } = options;
  const recheckMs = options.recheckMs ?? CURRENT_KEY_RECHECK_MS;
  const now = options.now ?? Date.now;
  const plain = new Map<string, Promise<Buffer>>();
  let current: { id: string; checkedAt: number } | undefined;
  let looking: Promise<string> | undefined;

  const unwrapped = (key: WrappedDataKey): Promise<Buffer> => {
    let found = plain.get(key.id);
    if (!found) {
      found = wrapper.unwrap(key.wrapped, key.kmsKeyArn);
      plain.set(key.id, found);
      // A failed unwrap is not kept: the next call asks KMS again.
      found.catch(() => plain.delete(key.id));
    }
    return found;
  };

  const lookUp = async (): Promise<string> => {
    let found: WrappedDataKey | undefined;
    try {
      found = await store.current();
    } catch (error) {
      if (current) return current.id;
      throw error;
    }
    if (!found) {
      const made = await wrapper.generate();
      const mine: WrappedDataKey = { id: newDataKeyId(), kmsKeyArn: made.keyArn, wrapped: made.wrapped };
      found = await store.addFirst(mine);
      if (found.id === mine.id) plain.set(mine.id, Promise.resolve(made.plaintext));
      else made.plaintext.fill(0);
    }
    await unwrapped(found);
    current = { id: found.id, checkedAt: now() };
    return found.id;
  };

  // One look-up per key however many values of a batch ask for it at once.
  const byId = (id: string): Promise<Buffer> => {
    let found = plain.get(id);
    if (!found) {
      found = store.byId(id).then((key) => {
        if (!key) {
          throw new UnknownDataKey(
            `no data key ${id} in cafe24.token_data_keys (deleted by rotate-key, or another deployment's)`,
          );
        }
        return wrapper.unwrap(key.wrapped, key.kmsKeyArn);
      });
      plain.set(id, found);
      found.catch(() => plain.delete(id));
    }
    return found;
  };

  return {
    async current(): Promise<DataKey> {
      let id: string;
      if (current && now() - current.checkedAt < recheckMs) id = current.id;
      else {
        // One look at a time: a cold container's first batch asks once, not once per record.
        looking ??= lookUp().finally(() => {
          looking = undefined;
        });
        id = await looking;
      }
      return { id, key: await byId(id) };
    },
    byId,
  };
}
