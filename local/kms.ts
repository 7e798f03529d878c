import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for AWS KMS's symmetric-key calls, for the local stack and the tests: the real
 * `@aws-sdk/client-kms` talks to it (its endpoint as AWS_ENDPOINT_URL_KMS). It speaks the wire protocol
 * (AWS JSON 1.1, `X-Amz-Target: TrentService.<Operation>`, blobs as base64, errors as
 * `{"__type": "...Exception"}` with status 400) for CreateKey, CreateAlias, DescribeKey, GenerateDataKey,
 * Encrypt and Decrypt, and refuses as KMS does: an unknown key (NotFoundException), a disabled one
 * (DisabledException), a blob under another key than Decrypt's KeyId (IncorrectKeyException), a blob
 * tampered with or decrypted under another EncryptionContext (InvalidCiphertextException). Any SigV4
 * signature is accepted, never verified.
 *
 * Each key has its own 256-bit master key, in memory only. A blob is
 * `01 | key id length | key id | 96-bit IV | 128-bit GCM tag | ciphertext`, AES-256-GCM under the key's
 * master key with the key id and the EncryptionContext (its pairs sorted) as additional data.
 */

export const LOCAL_KMS_REGION = 'us-east-1';
export const LOCAL_KMS_ACCOUNT = '111122223333';

export type LocalKmsCall = {
  /** The operation, without its `TrentService.` prefix: `GenerateDataKey`, `Decrypt`, … */
  target: string;
  /** The KeyId as the request sent it (an id, ARN, alias name or alias ARN), when it sent one. */
  keyId?: string;
};

export type LocalKms = {
  readonly endpoint: string;
  /** The id of the key created at start. */
  readonly keyId: string;
  /** Its ARN. */
  readonly keyArn: string;
  /** Another key (enabled, its own master key); resolves to its id. */
  createKey(): Promise<string>;
  /** `alias/<name>` for a key (by id, ARN or alias), as CreateAlias does. */
  alias(aliasName: string, keyId: string): void;
  /** The key (by id, ARN or alias) refuses GenerateDataKey, Encrypt and Decrypt until enabled again. */
  disable(keyId: string): void;
  enable(keyId: string): void;
  /** While on, every call is answered AccessDeniedException. */
  deny(on: boolean): void;
  /** The next `times` calls fail as a whole: 400 ThrottlingException or 500 KMSInternalException. */
  failNext(times?: number, kind?: 'throttle' | 'internal'): void;
  /** Every call received, in order (a retried call appears once per attempt). */
  readonly calls: LocalKmsCall[];
  stop(): Promise<void>;
};

type Key = {
  id: string;
  arn: string;
  master: Buffer;
  enabled: boolean;
  description: string;
  createdAt: number;
};

class KmsRefusal extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

const BLOB_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * `keyFile`: where the first key (its id and master key, mode 600) is kept, so that a restarted local
 * stack still unwraps the data keys its database kept; without one, a new key each start.
 */
export async function startLocalKms(
  options: { port?: number; hostname?: string; keyFile?: string } = {},
): Promise<LocalKms> {
  const hostname = options.hostname ?? '127.0.0.1';
  const keys = new Map<string, Key>();
  const aliases = new Map<string, string>();
  const calls: LocalKmsCall[] = [];
  const failures: Array<'throttle' | 'internal'> = [];
  let denying = false;

  const arnOf = (kind: 'key' | 'alias', name: string) =>
    `arn:aws:kms:${LOCAL_KMS_REGION}:${LOCAL_KMS_ACCOUNT}:${kind}/${name}`;

  const createKey = (description = ''): Key => {
    const id = randomUUID();
    const key: Key = {
      id,
      arn: arnOf('key', id),
      master: randomBytes(32),
      enabled: true,
      description,
      createdAt: Date.now(),
    };
    keys.set(id, key);
    return key;
  };

  /** A key by id, key ARN, alias name or alias ARN, as every KMS operation takes KeyId. */
  const resolve = (reference: unknown): Key => {
    if (typeof reference !== 'string' || reference === '') {
      throw new KmsRefusal(
        'ValidationException',
        "1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1",
      );
    }
    const aliasName = reference.startsWith('alias/')
      ? reference
      : /^arn:aws:kms:[^:]*:[^:]*:(alias\/.+)$/.exec(reference)?.[1];
    if (aliasName !== undefined) {
      const target = aliases.get(aliasName);
      const key = target === undefined ? undefined : keys.get(target);
      if (!key)
        throw new KmsRefusal(
          'NotFoundException',
          `Alias ${arnOf('alias', aliasName.slice(6))} is not found.`,
        );
      return key;
    }
    const id = /^arn:aws:kms:[^:]*:[^:]*:key\/(.+)$/.exec(reference)?.[1] ?? reference;
    const key = keys.get(id);
    if (!key) throw new KmsRefusal('NotFoundException', `Key '${arnOf('key', id)}' does not exist`);
    return key;
  };

  /** The first key from `file`, or a new one written there. */
  const keptKey = (file: string): Key => {
    let kept: { id?: unknown; master?: unknown } | undefined;
    try {
      kept = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`local KMS: its key file ${file} could not be read (${(error as Error).message})`);
      }
    }
    if (kept) {
      const master = Buffer.from(String(kept.master), 'base64');
      if (typeof kept.id !== 'string' || master.length !== 32) {
        throw new Error(`local KMS: its key file ${file} holds no key; remove it to start with a new one`);
      }
      const key: Key = {
        id: kept.id,
        arn: arnOf('key', kept.id),
        master,
        enabled: true,
        description: 'the local stack key',
        createdAt: Date.now(),
      };
      keys.set(key.id, key);
      return key;
    }
    const key = createKey('the local stack key');
    writeFileSync(file, JSON.stringify({ id: key.id, master: key.master.toString('base64') }), {
      mode: 0o600,
      flag: 'wx',
    });
    return key;
  };

  const usable = (key: Key): Key => {
    if (!key.enabled) throw new KmsRefusal('DisabledException', `${key.arn} is disabled.`);
    return key;
  };

  const metadata = (key: Key) => ({
    AWSAccountId: LOCAL_KMS_ACCOUNT,
    KeyId: key.id,
    Arn: key.arn,
    CreationDate: key.createdAt / 1000,
    Enabled: key.enabled,
    Description: key.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: key.enabled ? 'Enabled' : 'Disabled',
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  });

  const seal = (key: Key, plaintext: Buffer, context: Record<string, string>): Buffer => {
    const id = Buffer.from(key.id, 'utf8');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.master, iv);
    cipher.setAAD(additionalData(key.id, context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([BLOB_VERSION, id.length]), id, iv, cipher.getAuthTag(), ciphertext]);
  };

  /** The blob's key id, or undefined when it is no blob of ours. */
  const blobKeyId = (blob: Buffer): string | undefined => {
    if (blob.length < 2 || blob[0] !== BLOB_VERSION) return undefined;
    const length = blob[1]!;
    if (blob.length < 2 + length + IV_BYTES + TAG_BYTES) return undefined;
    return blob.subarray(2, 2 + length).toString('utf8');
  };

  const open = (key: Key, blob: Buffer, context: Record<string, string>): Buffer => {
    const start = 2 + blob[1]!;
    const iv = blob.subarray(start, start + IV_BYTES);
    const tag = blob.subarray(start + IV_BYTES, start + IV_BYTES + TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.master, iv);
      decipher.setAAD(additionalData(key.id, context));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(blob.subarray(start + IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      // KMS says no more: neither whether the context or the bytes were wrong.
      throw new KmsRefusal('InvalidCiphertextException', '');
    }
  };

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    CreateKey: (body) => {
      if (body.KeySpec !== undefined && body.KeySpec !== 'SYMMETRIC_DEFAULT') {
        throw new KmsRefusal('UnsupportedOperationException', 'only SYMMETRIC_DEFAULT keys are emulated');
      }
      return {
        KeyMetadata: metadata(createKey(typeof body.Description === 'string' ? body.Description : '')),
      };
    },
    CreateAlias: (body) => {
      const name = body.AliasName;
      if (
        typeof name !== 'string' ||
        !/^alias\/[a-zA-Z0-9/_-]+$/.test(name) ||
        name.startsWith('alias/aws/')
      ) {
        throw new KmsRefusal(
          'ValidationException',
          `Alias must start with the prefix "alias/" and not "alias/aws/"`,
        );
      }
      if (aliases.has(name))
        throw new KmsRefusal(
          'AlreadyExistsException',
          `An alias with the name ${arnOf('alias', name.slice(6))} already exists`,
        );
      aliases.set(name, resolve(body.TargetKeyId).id);
      return {};
    },
    DescribeKey: (body) => ({ KeyMetadata: metadata(resolve(body.KeyId)) }),
    GenerateDataKey: (body) => {
      const key = usable(resolve(body.KeyId));
      const bytes = dataKeyBytes(body);
      const plaintext = randomBytes(bytes);
      return {
        KeyId: key.arn,
        CiphertextBlob: seal(key, plaintext, contextOf(body)).toString('base64'),
        Plaintext: plaintext.toString('base64'),
      };
    },
    Encrypt: (body) => {
      const key = usable(resolve(body.KeyId));
      const plaintext = blobOf(body.Plaintext, 'plaintext');
      if (plaintext.length < 1 || plaintext.length > 4096) {
        throw new KmsRefusal(
          'ValidationException',
          "Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096",
        );
      }
      return {
        KeyId: key.arn,
        CiphertextBlob: seal(key, plaintext, contextOf(body)).toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    },
    Decrypt: (body) => {
      const blob = blobOf(body.CiphertextBlob, 'ciphertextBlob');
      const requested = body.KeyId === undefined ? undefined : resolve(body.KeyId);
      const inBlob = blobKeyId(blob);
      if (inBlob === undefined) throw new KmsRefusal('InvalidCiphertextException', '');
      if (requested && requested.id !== inBlob) {
        throw new KmsRefusal(
          'IncorrectKeyException',
          'The key ID in the request does not identify a CMK that can perform this operation.',
        );
      }
      const key = usable(requested ?? resolve(inBlob));
      return {
        KeyId: key.arn,
        Plaintext: open(key, blob, contextOf(body)).toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    },
  };

  const answer = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-requestid': randomUUID(),
    });
    response.end(JSON.stringify(body));
  };
  const refuse = (response: ServerResponse, status: number, type: string, message: string) =>
    answer(response, status, message === '' ? { __type: type } : { __type: type, message });

  const server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const header = request.headers['x-amz-target'];
    const target =
      typeof header === 'string' && header.startsWith('TrentService.') ? header.slice(13) : undefined;
    const operation = target === undefined ? undefined : operations[target];
    if (request.method !== 'POST' || target === undefined || operation === undefined) {
      return refuse(response, 400, 'UnknownOperationException', `unknown operation ${String(header)}`);
    }
    let body: Record<string, unknown>;
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return refuse(response, 400, 'SerializationException', 'the body is not a JSON object');
    }
    const keyId = body.KeyId ?? body.TargetKeyId;
    calls.push(typeof keyId === 'string' ? { target, keyId } : { target });
    const failure = failures.shift();
    if (failure === 'throttle') return refuse(response, 400, 'ThrottlingException', 'Rate exceeded');
    if (failure === 'internal') return refuse(response, 500, 'KMSInternalException', 'internal error');
    if (denying) {
      let resource = '*';
      try {
        if (typeof keyId === 'string') resource = resolve(keyId).arn;
      } catch {}
      return refuse(
        response,
        400,
        'AccessDeniedException',
        `User: arn:aws:iam::${LOCAL_KMS_ACCOUNT}:user/local is not authorized to perform: kms:${target} on resource: ${resource} because no identity-based policy allows the kms:${target} action`,
      );
    }
    try {
      answer(response, 200, operation(body));
    } catch (error) {
      if (error instanceof KmsRefusal) return refuse(response, error.status, error.type, error.message);
      return refuse(response, 500, 'KMSInternalException', 'internal error');
    }
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, hostname, () => resolveListen());
  });
  const address = server.address() as AddressInfo;
  const first = options.keyFile ? keptKey(options.keyFile) : createKey('the local stack key');
  return {
    endpoint: `http://${hostname}:${address.port}`,
    keyId: first.id,
    keyArn: first.arn,
    createKey: async () => createKey().id,
    alias(aliasName, keyId) {
      operations.CreateAlias!({ AliasName: aliasName, TargetKeyId: keyId });
    },
    disable(keyId) {
      resolve(keyId).enabled = false;
    },
    enable(keyId) {
      resolve(keyId).enabled = true;
    },
    deny(on) {
      denying = on;
    },
    failNext(times = 1, kind = 'internal') {
      for (let i = 0; i < times; i += 1) failures.push(kind);
    },
    calls,
    stop: () =>
      new Promise<void>((resolveStop) => {
        server.close(() => resolveStop());
        server.closeAllConnections();
      }),
  };
}

/** The EncryptionContext bound to a blob: the key id and the context's pairs, sorted, as JSON. */
function additionalData(keyId: string, context: Record<string, string>): Buffer {
  const pairs = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify([keyId, pairs]), 'utf8');
}

function contextOf(body: Record<string, unknown>): Record<string, string> {
  const context = body.EncryptionContext;
  if (context === undefined) return {};
  if (
    typeof context !== 'object' ||
    context === null ||
    Array.isArray(context) ||
    Object.values(context).some((value) => typeof value !== 'string')
  ) {
    throw new KmsRefusal('ValidationException', 'EncryptionContext must map strings to strings');
  }
  return context as Record<string, string>;
}

function blobOf(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || value === '') {
    throw new KmsRefusal(
      'ValidationException',
      `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length greater than or equal to 1`,
    );
  }
  return Buffer.from(value, 'base64');
}

/** KeySpec AES_256 / AES_128, or NumberOfBytes 1..1024: exactly one of them, as KMS requires. */
function dataKeyBytes(body: Record<string, unknown>): number {
  const { KeySpec: spec, NumberOfBytes: count } = body;
  if ((spec === undefined) === (count === undefined)) {
    throw new KmsRefusal('ValidationException', 'Please specify either number of bytes or key spec.');
  }
  if (spec !== undefined) {
    if (spec === 'AES_256') return 32;
    if (spec === 'AES_128') return 16;
    throw new KmsRefusal(
      'ValidationException',
      `Value '${String(spec)}' at 'keySpec' failed to satisfy constraint`,
    );
  }
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1024) {
    throw new KmsRefusal('ValidationException', "Value at 'numberOfBytes' failed to satisfy constraint");
  }
  return count;
}
