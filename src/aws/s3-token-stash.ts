import type { S3Client } from '@aws-sdk/client-s3';
import { describeError } from '../commons/errors.ts';
import type { Log } from '../commons/log.ts';
import { Secret } from '../commons/secret.ts';
import { sealedKeyId, TokenCodec, type TokenColumn } from '../commons/token-codec.ts';
import type { AwsConfig } from '../config.ts';
import { entryKey, MemoryTokenStash } from '../domain/memory-stash.ts';
import type { StashEntry, StashGrant, TokenSet, TokenStash } from '../domain/ports.ts';
import { clientSettings } from './clients.ts';

export type S3TokenStashOptions = {
  bucket: string;
  aws: AwsConfig;
  log: Log;
  /** Seals the two tokens before they leave the process (plaintext without a key). */
  codec?: TokenCodec;
};

/** The S3 object: the entry, its tokens encoded field by field without naming any field. */
type StoredEntry = { grant: StashGrant; key: string; mallId: string; tokens: Record<string, unknown> };

const PREFIX = 'stash/';

/**
 * Issued tokens the database could not take, kept in this container's memory and in an encrypted S3
 * bucket, so that a delivery of the same code on another container (a retry, a redrive days later) can
 * still store them. For codes, S3 is touched only when tokens are stashed and when a code is found
 * mid-exchange, never on the normal path; a refresh looks for its mall's pair before sending (one GET).
 * The bucket's lifecycle removes anything older than the DLQ's retention.
 */
export class S3TokenStash implements TokenStash {
  readonly #memory = new MemoryTokenStash();
  /** Entries the bucket took (and nobody has taken since): a copy outlives this container. */
  readonly #inBucket = new Set<string>();
  readonly #options: S3TokenStashOptions;
  #client: Promise<S3Client> | undefined;

  constructor(options: S3TokenStashOptions) {
    this.#options = options;
  }

  get #codec(): TokenCodec {
    return this.#options.codec ?? PLAIN;
  }

  async put(entry: StashEntry): Promise<void> {
    await this.#memory.put(entry);
    try {
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      const stored: StoredEntry = { ...entry, tokens: await encodeTokens(entry.tokens, this.#codec) };
      await (await this.#s3()).send(
        new PutObjectCommand({
          Bucket: this.#options.bucket,
          Key: objectKey(entry.grant, entry.key),
          Body: JSON.stringify(stored),
          ContentType: 'application/json',
        }),
      );
      this.#inBucket.add(entryKey(entry.grant, entry.key));
    } catch (error) {
      // Still in this container's memory; only a container recycle before the next delivery loses them.
      this.#options.log.error('durable token stash failed; tokens kept in memory only', {
        grant: entry.grant,
        key: entry.key,
        error: describeError(error),
      });
    }
  }

  async take(grant: StashGrant, key: string): Promise<StashEntry | undefined> {
    const local = await this.#memory.take(grant, key);
    this.#inBucket.delete(entryKey(grant, key));
    const Key = objectKey(grant, key);
    let stored: StoredEntry | undefined;
    let opened: StashEntry | undefined;
    try {
      const { GetObjectCommand, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
      const s3 = await this.#s3();
      try {
        const object = await s3.send(new GetObjectCommand({ Bucket: this.#options.bucket, Key }));
        stored = JSON.parse(await object.Body!.transformToString()) as StoredEntry;
      } catch (error) {
        if ((error as { name?: string }).name !== 'NoSuchKey') throw error;
      }
      // Opened before it is deleted: a pair that cannot be opened now (KMS unavailable) stays in the
      // bucket for the next try, rather than being lost with the mall's only live refresh token.
      if (stored && !local) opened = { ...stored, tokens: await decodeTokens(stored.tokens, this.#codec) };
      // Taken: whoever took it stores it, or puts it back. A copy left behind by a failed delete is
      // harmless: storing it again never replaces a newer pair (the issued_at guard).
      if (stored) await s3.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key }));
    } catch (error) {
      // S3 failing must not cost the copy in memory: it is the one that is sure to exist.
      if (local) return local;
      throw error;
    }
    return local ?? opened;
  }

  /**
   * Removes the entry without reading it (a mall that removed the app): no token is opened, so a
   * process that only drops (the install front's webhook) needs no key.
   */
  async drop(grant: StashGrant, key: string): Promise<void> {
    await this.#memory.take(grant, key);
    this.#inBucket.delete(entryKey(grant, key));
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await (await this.#s3()).send(
      new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: objectKey(grant, key) }),
    );
  }

  /** This container's stash only: listing the bucket on every invocation would cost every exchange. */
  entries(): Promise<Array<{ grant: StashGrant; key: string }>> {
    return this.#memory.entries();
  }

  async durable(grant: StashGrant, key: string): Promise<boolean> {
    return this.#inBucket.has(entryKey(grant, key));
  }

  #s3(): Promise<S3Client> {
    this.#client ??= s3Client(this.#options.aws);
    return this.#client;
  }
}

/**
 * The data keys the bucket's stashed pairs are sealed under, with how many values each seals (key ids
 * only: nothing is opened). For `rotate-key`: a retired key still sealing a stashed pair is kept until
 * the pair is stored, or the pair would be lost.
 */
export async function stashedKeyIds(options: {
  bucket: string;
  aws: AwsConfig;
}): Promise<Map<string, number>> {
  const { ListObjectsV2Command, GetObjectCommand } = await import('@aws-sdk/client-s3');
  const s3 = await s3Client(options.aws);
  const found = new Map<string, number>();
  try {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: options.bucket, Prefix: PREFIX, ContinuationToken: token }),
      );
      for (const { Key } of page.Contents ?? []) {
        let stored: StoredEntry;
        try {
          const object = await s3.send(new GetObjectCommand({ Bucket: options.bucket, Key }));
          stored = JSON.parse(await object.Body!.transformToString()) as StoredEntry;
        } catch (error) {
          if ((error as { name?: string }).name === 'NoSuchKey') continue; // stored meanwhile
          throw error;
        }
        for (const value of Object.values(stored.tokens ?? {})) {
          const secret = (value as { secret?: unknown } | null)?.secret;
          const id = typeof secret === 'string' ? sealedKeyId(secret) : undefined;
          if (id !== undefined) found.set(id, (found.get(id) ?? 0) + 1);
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    s3.destroy();
  }
  return found;
}

/** The stash's S3 client; a local endpoint serves every bucket under one host: path-style addressing. */
async function s3Client(aws: AwsConfig): Promise<S3Client> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  const settings = clientSettings(aws, 's3');
  return new S3Client({ ...settings, forcePathStyle: 'endpoint' in settings });
}

function objectKey(grant: StashGrant, key: string): string {
  return `${PREFIX}${entryKey(grant, key)}.json`;
}

const PLAIN = new TokenCodec(undefined);

/** The column a secret field is sealed for: the table's, so a stashed value opens only as that token. */
const COLUMNS: Record<string, TokenColumn> = { accessToken: 'access_token', refreshToken: 'refresh_token' };

/**
 * Secrets (sealed by `codec` when it has a key) and dates tagged, every other value as it is: the
 * response schema stays the one field list.
 */
export async function encodeTokens(
  tokens: TokenSet,
  codec: TokenCodec = PLAIN,
): Promise<Record<string, unknown>> {
  const entries = await Promise.all(
    Object.entries(tokens).map(async ([name, value]) => [
      name,
      value instanceof Secret
        ? {
            secret: await codec.seal(value, {
              mallId: tokens.mallId,
              column: COLUMNS[name] ?? 'access_token',
            }),
          }
        : value instanceof Date
          ? { date: value.toISOString() }
          : value,
    ]),
  );
  return Object.fromEntries(entries);
}

export async function decodeTokens(
  stored: Record<string, unknown>,
  codec: TokenCodec = PLAIN,
): Promise<TokenSet> {
  const mallId = String(stored.mallId);
  const entries = await Promise.all(
    Object.entries(stored).map(async ([name, value]) => {
      const tagged = value as { secret?: unknown; date?: unknown } | null;
      if (typeof tagged?.secret === 'string') {
        return [name, await codec.open(tagged.secret, { mallId, column: COLUMNS[name] ?? 'access_token' })];
      }
      if (typeof tagged?.date === 'string') return [name, new Date(tagged.date)];
      return [name, value];
    }),
  );
  return Object.fromEntries(entries) as TokenSet;
}
