import type { S3Client } from '@aws-sdk/client-s3';
import type { TokenSet } from '../cafe24/token-response.ts';
import { describeError } from '../commons/errors.ts';
import type { Log } from '../commons/log.ts';
import { Secret } from '../commons/secret.ts';
import type { AwsConfig } from '../config.ts';
import type { TokenStash } from '../domain/ports.ts';
import { MemoryTokenStash } from '../store/token-stash.ts';
import { clientSettings } from './clients.ts';

export type S3TokenStashOptions = { bucket: string; aws: AwsConfig; log: Log };

type StoredTokens = {
  mallId: string;
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
  refreshTokenExpiresAt: string;
  issuedAt: string;
  clientId?: string;
  userId?: string;
  scopes?: string[];
  shopNo?: string;
  tokenType?: string;
};

const PREFIX = 'stash/';

/**
 * Issued tokens the database could not take, kept in this container's memory and in an encrypted S3
 * bucket, so that a delivery of the same code on another container (a retry, a redrive days later) can
 * still store them. S3 is touched only when tokens are stashed and when a code is found mid-exchange:
 * never on the normal path. The bucket's lifecycle removes anything older than the DLQ's retention.
 */
export class S3TokenStash implements TokenStash {
  readonly #memory = new MemoryTokenStash();
  readonly #options: S3TokenStashOptions;
  #client: Promise<S3Client> | undefined;

  constructor(options: S3TokenStashOptions) {
    this.#options = options;
  }

  async put(codeId: string, mallId: string, tokens: TokenSet): Promise<void> {
    await this.#memory.put(codeId, mallId, tokens);
    try {
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      await (await this.#s3()).send(
        new PutObjectCommand({
          Bucket: this.#options.bucket,
          Key: key(codeId),
          Body: JSON.stringify(serialize(mallId, tokens)),
          ContentType: 'application/json',
        }),
      );
    } catch (error) {
      // Still in this container's memory; only a container recycle before the next delivery loses them.
      this.#options.log.error('durable token stash failed; tokens kept in memory only', {
        codeId,
        error: describeError(error),
      });
    }
  }

  async take(codeId: string): Promise<{ mallId: string; tokens: TokenSet } | undefined> {
    const local = await this.#memory.take(codeId);
    const { GetObjectCommand, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    const s3 = await this.#s3();
    let stored: StoredTokens | undefined;
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: this.#options.bucket, Key: key(codeId) }));
      stored = JSON.parse(await object.Body!.transformToString()) as StoredTokens;
    } catch (error) {
      if ((error as { name?: string }).name !== 'NoSuchKey') throw error;
    }
    // Taken: whoever took it stores it, or puts it back.
    if (stored) await s3.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: key(codeId) }));
    if (local) return local;
    return stored ? { mallId: stored.mallId, tokens: deserialize(stored) } : undefined;
  }

  /** This container's stash only: listing the bucket on every invocation would cost every exchange. */
  codeIds(): Promise<string[]> {
    return this.#memory.codeIds();
  }

  #s3(): Promise<S3Client> {
    const settings = clientSettings(this.#options.aws, 's3');
    // A local endpoint serves every bucket under one host: path-style addressing.
    this.#client ??= import('@aws-sdk/client-s3').then(
      ({ S3Client }) => new S3Client({ ...settings, forcePathStyle: 'endpoint' in settings }),
    );
    return this.#client;
  }
}

function key(codeId: string): string {
  return `${PREFIX}${codeId}.json`;
}

function serialize(mallId: string, tokens: TokenSet): StoredTokens {
  return {
    mallId,
    accessToken: tokens.accessToken.reveal(),
    refreshToken: tokens.refreshToken.reveal(),
    expiresAt: tokens.expiresAt.toISOString(),
    refreshTokenExpiresAt: tokens.refreshTokenExpiresAt.toISOString(),
    issuedAt: tokens.issuedAt.toISOString(),
    ...(tokens.clientId === undefined ? {} : { clientId: tokens.clientId }),
    ...(tokens.userId === undefined ? {} : { userId: tokens.userId }),
    ...(tokens.scopes === undefined ? {} : { scopes: tokens.scopes }),
    ...(tokens.shopNo === undefined ? {} : { shopNo: tokens.shopNo }),
    ...(tokens.tokenType === undefined ? {} : { tokenType: tokens.tokenType }),
  };
}

function deserialize(stored: StoredTokens): TokenSet {
  return {
    mallId: stored.mallId,
    accessToken: new Secret(stored.accessToken),
    refreshToken: new Secret(stored.refreshToken),
    expiresAt: new Date(stored.expiresAt),
    refreshTokenExpiresAt: new Date(stored.refreshTokenExpiresAt),
    issuedAt: new Date(stored.issuedAt),
    clientId: stored.clientId,
    userId: stored.userId,
    scopes: stored.scopes,
    shopNo: stored.shopNo,
    tokenType: stored.tokenType,
  };
}
