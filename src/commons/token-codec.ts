import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Secret } from './secret.ts';

/**
 * The one codec for tokens at rest (docs/design.md, "Tokens encrypted at rest"): AES-256-GCM under a data
 * key, a fresh 96-bit IV per value, the mall id and the column as additional authenticated data, so a
 * value copied to another row or column does not open. The stored form is one string in the same column:
 * `enc:v1:<key id>:<base64url(iv ‖ ciphertext ‖ tag)>`. A value without the prefix is plaintext and is
 * read as it is, so sealing can be turned on at any time.
 */

export type TokenColumn = 'access_token' | 'refresh_token';
/** Where a value lives: what its authentication binds it to. */
export type SealedAt = { mallId: string; column: TokenColumn };

export type DataKey = { id: string; key: Buffer };

/**
 * Where data keys come from: KMS (wrapped keys in the database) or TOKEN_ENCRYPTION_KEY. A key that does
 * not exist rejects with UnknownDataKey (the value cannot be opened, ever); any other rejection (KMS or
 * the database unavailable, KMS denying) is taken as passing, and surfaces as DataKeyUnavailable.
 */
export type DataKeys = {
  /** The key new values are sealed under. */
  current(): Promise<DataKey>;
  /** A key by its id, to open a value sealed under it. */
  byId(id: string): Promise<Buffer>;
  /** Forget which key is current (the database refused a write under it): the next seal looks again. */
  forgetCurrent?(): void;
};

/** No data key has this id (deleted, or another deployment's): what it sealed cannot be opened. */
export class UnknownDataKey extends Error {
  override name = 'UnknownDataKey';
}

/**
 * The data key could not be had now (KMS unavailable, throttling or denying, the database unreachable):
 * nothing is wrong with the value, and the caller tries again later (a transient failure). Carries the
 * cause's message, which names the key id and the KMS error, never key material.
 */
export class DataKeyUnavailable extends Error {
  override name = 'DataKeyUnavailable';
  readonly transient = true;
  constructor(what: string, cause: unknown) {
    super(`${what}: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A value that does not open: tampered, moved, or under a key we do not have. Names the mall, never the value. */
export class TokenSealError extends Error {
  override name = 'TokenSealError';
  readonly mallId: string;
  readonly column: TokenColumn;
  constructor(at: SealedAt, why: string) {
    super(`the ${at.column} of mall ${at.mallId} could not be opened: ${why}`);
    this.mallId = at.mallId;
    this.column = at.column;
  }
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** The key id a stored value was sealed under, or undefined for plaintext. */
export function sealedKeyId(stored: string): string | undefined {
  if (!isSealed(stored)) return undefined;
  return stored.slice(PREFIX.length).split(':')[0];
}

function aad(at: SealedAt): Buffer {
  return Buffer.from(`cafe24-token-issuer:v1:${at.mallId}:${at.column}`, 'utf8');
}

export class TokenCodec {
  readonly #keys: DataKeys | undefined;
  constructor(keys: DataKeys | undefined) {
    this.#keys = keys;
  }

  /** Whether new values are sealed (a key is configured). */
  get sealing(): boolean {
    return this.#keys !== undefined;
  }

  /** The stored form of `value` at `at`: sealed under the current key, or plaintext without one. */
  async seal(value: Secret, at: SealedAt): Promise<string> {
    if (!this.#keys) return value.reveal();
    const { id, key } = await this.#current(this.#keys);
    if (!KEY_ID.test(id))
      throw new Error(`the data key id ${JSON.stringify(id.slice(0, 64))} is not a key id`);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad(at));
    const body = Buffer.concat([cipher.update(value.reveal(), 'utf8'), cipher.final()]);
    return `${PREFIX}${id}:${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
  }

  /**
   * That the key new values are sealed under is at hand (fetched and unwrapped once per container, then
   * cached): called before anything is sent to Cafe24, so a code is never spent while KMS is down.
   * Rejects with DataKeyUnavailable.
   */
  async ready(): Promise<void> {
    if (this.#keys) await this.#current(this.#keys);
  }

  async #current(keys: DataKeys): Promise<DataKey> {
    try {
      return await keys.current();
    } catch (error) {
      throw error instanceof DataKeyUnavailable
        ? error
        : new DataKeyUnavailable('the data key to seal tokens with is not available', error);
    }
  }

  /** The key values were sealed under was retired and deleted meanwhile: the next seal looks again. */
  keyRetired(): void {
    this.#keys?.forgetCurrent?.();
  }

  /** The token a stored value holds: opened if sealed, as it is if plaintext. */
  async open(stored: string, at: SealedAt): Promise<Secret> {
    if (!isSealed(stored)) return new Secret(stored);
    const [id, payload, ...rest] = stored.slice(PREFIX.length).split(':');
    if (id === undefined || payload === undefined || rest.length > 0 || !KEY_ID.test(id)) {
      throw new TokenSealError(at, 'it is not a sealed value (enc:v1:<key id>:<data>)');
    }
    if (!this.#keys) {
      throw new TokenSealError(
        at,
        `it is sealed under key ${id}, and no key is configured (TOKEN_KMS_KEY_ID or TOKEN_ENCRYPTION_KEY)`,
      );
    }
    let key: Buffer;
    try {
      key = await this.#keys.byId(id);
    } catch (error) {
      if (error instanceof UnknownDataKey) {
        throw new TokenSealError(at, `its key ${id} is not there (${error.message})`);
      }
      throw error instanceof DataKeyUnavailable
        ? error
        : new DataKeyUnavailable(`the data key ${id} of mall ${at.mallId} is not available`, error);
    }
    const bytes = Buffer.from(payload, 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES) throw new TokenSealError(at, 'it is cut short');
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(aad(at));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    try {
      const body = bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES);
      return new Secret(Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8'));
    } catch {
      // The tag did not verify: changed, or sealed for another mall or column.
      throw new TokenSealError(at, 'it was changed, or sealed for another mall or column');
    }
  }
}

/**
 * TOKEN_ENCRYPTION_KEY (base64 of 32 bytes), for local runs and tests: one data key, its id derived from
 * it (so two machines with the same key agree, and the id says nothing of the key).
 */
export function localDataKeys(base64: string): DataKeys {
  const text = base64.trim();
  const key = Buffer.from(text, 'base64');
  // Re-encoding must give the text back: anything else was not base64 (Node skips what it cannot read).
  if (key.length !== 32 || key.toString('base64') !== text) {
    throw new Error('TOKEN_ENCRYPTION_KEY must be the base64 of 32 random bytes (openssl rand -base64 32)');
  }
  const id = `local-${createHash('sha256').update(key).digest('base64url').slice(0, 16)}`;
  return {
    current: async () => ({ id, key }),
    byId: async (wanted) => {
      if (wanted !== id) throw new UnknownDataKey(`key ${wanted} is not TOKEN_ENCRYPTION_KEY (${id})`);
      return key;
    },
  };
}
