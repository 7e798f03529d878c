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
  /**
   * The plain data key of a wrapped one, made under the KMS key `keyArn` (default: the configured one).
   * Rejects with an error whose `unopenable` is true when KMS will never open it (not a passing fault).
   */
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
/**
 * The longest a container seals under the key it last found current while the database cannot say which
 * is (then DataKeyUnavailable): well inside `rotate-key`'s grace of twice the recheck, so no container
 * seals under a key after the grace that deletes it.
 */
export const CURRENT_KEY_MAX_AGE_MS = 90_000;

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
  /** The key found current, and when the database said so (the read's start, not its end). */
  let current: { id: string; checkedAt: number } | undefined;
  let looking: { since: number; id: Promise<string> } | undefined;

  const lookUp = async (): Promise<string> => {
    const startedAt = now();
    let found: WrappedDataKey | undefined;
    try {
      found = await store.current();
    } catch (error) {
      // The database cannot say: the key last found stays current for a bounded time only.
      if (current && startedAt - current.checkedAt < CURRENT_KEY_MAX_AGE_MS) return current.id;
      throw error;
    }
    if (!found) {
      const made = await wrapper.generate();
      const mine: WrappedDataKey = { id: newDataKeyId(), kmsKeyArn: made.keyArn, wrapped: made.wrapped };
      found = await store.addFirst(mine);
      if (found.id === mine.id) plain.set(mine.id, Promise.resolve(made.plaintext));
      else made.plaintext.fill(0);
    }
    await unwrap(found);
    current = { id: found.id, checkedAt: startedAt };
    return found.id;
  };

  /** The plain key of `key`, unwrapped once; a failure is not kept (the next call asks KMS again). */
  const unwrap = (key: WrappedDataKey): Promise<Buffer> => {
    let found = plain.get(key.id);
    if (!found) {
      found = wrapper.unwrap(key.wrapped, key.kmsKeyArn).catch((error: unknown) => {
        // A wrapped key KMS will never open (damaged, another context, its KMS key deleted) is data:
        // what it sealed is unreadable, not waiting for KMS to come back.
        if ((error as { unopenable?: unknown }).unopenable === true) {
          throw new UnknownDataKey(`data key ${key.id} cannot be unwrapped: ${(error as Error).message}`);
        }
        throw error;
      });
      plain.set(key.id, found);
      found.catch(() => plain.delete(key.id));
    }
    return found;
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
        plain.delete(id);
        return unwrap(key);
      });
      plain.set(id, found);
      found.catch(() => {
        if (plain.get(id) === found) plain.delete(id);
      });
    }
    return found;
  };

  return {
    async current(): Promise<DataKey> {
      let id: string;
      const at = now();
      if (current && at - current.checkedAt < recheckMs) id = current.id;
      else {
        // One look at a time: a cold container's first batch asks once, not once per record. A look
        // older than the recheck (a container frozen mid-way) is not waited for: its answer may be stale.
        if (!looking || at - looking.since >= recheckMs) {
          const started = { since: at, id: lookUp() };
          looking = started;
          const done = () => {
            if (looking === started) looking = undefined;
          };
          started.id.then(done, done);
        }
        id = await looking.id;
      }
      return { id, key: await byId(id) };
    },
    byId,
    forgetCurrent() {
      current = undefined;
    },
  };
}
