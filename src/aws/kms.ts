import type { KMSClient } from '@aws-sdk/client-kms';
import type { AwsConfig } from '../config.ts';
import type { KeyWrapper } from '../domain/data-keys.ts';
import { clientSettings } from './clients.ts';

/** The KMS side of envelope encryption (domain/data-keys.ts): data keys under one KMS key. */
export type KmsKeyWrapper = KeyWrapper & {
  /** DescribeKey: that the key exists and is enabled (for doctor); resolves to { keyArn, enabled }. */
  describe(): Promise<{ keyArn: string; enabled: boolean }>;
};

/** Bound to every data key: a blob made for this purpose decrypts for no other (and no other's for this). */
export const TOKEN_DATA_KEY_CONTEXT: Readonly<Record<string, string>> = Object.freeze({
  app: 'cafe24-token-issuer',
  purpose: 'token-data-key',
});

const DATA_KEY_BYTES = 32;

/**
 * A KMS call that failed: the operation, the key id as configured and the KMS error's name (with KMS's own
 * message, which names principals and ARNs, never key material). `transient`: throttling, a network
 * failure, a 5xx or a KMS-side outage (the SDK has already retried), worth trying again later; anything
 * else (AccessDeniedException, NotFoundException, DisabledException, KMSInvalidStateException,
 * InvalidCiphertextException, IncorrectKeyException, …) is configuration or data, and will not pass by
 * itself.
 */
export class KmsError extends Error {
  override name = 'KmsError';
  readonly operation: string;
  readonly keyId: string;
  /** The KMS exception's name (`AccessDeniedException`, …), or the network error's code (`ECONNREFUSED`). */
  readonly code: string;
  readonly transient: boolean;
  /**
   * Decrypt refused the blob itself, for good: damaged, made under another encryption context or key, or
   * its KMS key no longer exists. What the data key sealed cannot be opened (DataKeys' `unopenable`).
   */
  get unopenable(): boolean {
    return this.operation === 'Decrypt' && UNOPENABLE.has(this.code);
  }
  constructor(operation: string, keyId: string, code: string, transient: boolean, message: string) {
    super(message);
    this.operation = operation;
    this.keyId = keyId;
    this.code = code;
    this.transient = transient;
  }
}

const UNOPENABLE = new Set([
  'InvalidCiphertextException',
  'IncorrectKeyException',
  'NotFoundException',
  'EmptyCiphertext',
]);

/** KMS exceptions that say "not now" rather than "no". */
const TRANSIENT_EXCEPTIONS = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

/** What an exception KMS explains with no message means here. */
const HINTS: Record<string, string> = {
  InvalidCiphertextException:
    'the wrapped key is damaged, or was made under another encryption context than this one',
};

/** Node's and undici's codes for a connection that failed, timed out or was cut. */
const NETWORK_CODES =
  /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|ENETUNREACH|ENETDOWN|EHOSTUNREACH|EHOSTDOWN|UND_ERR_\w+)$/;

/**
 * Data keys under the KMS key `keyId` (an id, ARN, alias name or alias ARN). The SDK is loaded on first
 * use, so a deployment without TOKEN_KMS_KEY_ID never pays for it; the client is kept for the container.
 * Every call carries `encryptionContext` (default TOKEN_DATA_KEY_CONTEXT). `endpoint` overrides the
 * configured KMS endpoint (AWS_ENDPOINT_URL_KMS), for a local stand-in. Each call is tried `maxAttempts`
 * times (3) by the SDK, 3 s to connect and 5 s to answer, before it fails.
 */
export function kmsKeyWrapper(options: {
  keyId: string;
  aws: AwsConfig;
  encryptionContext?: Record<string, string>;
  endpoint?: string;
  /** Attempts per call, the SDK's retries included (default 3). */
  maxAttempts?: number;
}): KmsKeyWrapper {
  const { keyId } = options;
  if (keyId.trim() === '') throw new Error('a KMS key id is required');
  const context = { ...(options.encryptionContext ?? TOKEN_DATA_KEY_CONTEXT) };
  type Sdk = typeof import('@aws-sdk/client-kms');
  let loaded: Promise<{ sdk: Sdk; client: KMSClient }> | undefined;
  const kms = () => {
    loaded ??= import('@aws-sdk/client-kms').then(
      (sdk) => ({
        sdk,
        client: new sdk.KMSClient({
          ...kmsClientSettings(options.aws, options.endpoint),
          maxAttempts: options.maxAttempts ?? 3,
          requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000 },
        }),
      }),
      (error: unknown) => {
        loaded = undefined;
        throw error;
      },
    );
    return loaded;
  };
  const call = async <T>(operation: string, run: (sdk: Sdk, client: KMSClient) => Promise<T>): Promise<T> => {
    const { sdk, client } = await kms();
    try {
      return await run(sdk, client);
    } catch (error) {
      throw error instanceof KmsError ? error : kmsFailure(operation, keyId, error);
    }
  };

  return {
    generate: () =>
      call('GenerateDataKey', async (sdk, client) => {
        const answer = await client.send(
          new sdk.GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context }),
        );
        const { Plaintext: plain, CiphertextBlob: blob, KeyId: keyArn } = answer;
        try {
          if (plain?.length !== DATA_KEY_BYTES || !blob?.length || !keyArn) {
            throw new KmsError(
              'GenerateDataKey',
              keyId,
              'MalformedAnswer',
              false,
              `KMS GenerateDataKey with key ${keyId} answered without a ${DATA_KEY_BYTES}-byte data key, its CiphertextBlob and the key's ARN`,
            );
          }
          return { plaintext: Buffer.from(plain), wrapped: Buffer.from(blob), keyArn };
        } finally {
          // Only the copy handed to the caller is left.
          plain?.fill(0);
        }
      }),
    unwrap: (wrapped, keyArn = keyId) => {
      if (wrapped.length === 0) {
        return Promise.reject(
          new KmsError(
            'Decrypt',
            keyId,
            'EmptyCiphertext',
            false,
            `KMS Decrypt with key ${keyId}: empty wrapped key`,
          ),
        );
      }
      return call('Decrypt', async (sdk, client) => {
        const answer = await client.send(
          new sdk.DecryptCommand({ KeyId: keyArn, CiphertextBlob: wrapped, EncryptionContext: context }),
        );
        const plain = answer.Plaintext;
        try {
          if (plain?.length !== DATA_KEY_BYTES) {
            throw new KmsError(
              'Decrypt',
              keyId,
              'MalformedAnswer',
              false,
              `KMS Decrypt with key ${keyId} answered with no ${DATA_KEY_BYTES}-byte data key`,
            );
          }
          return Buffer.from(plain);
        } finally {
          plain?.fill(0);
        }
      });
    },
    describe: () =>
      call('DescribeKey', async (sdk, client) => {
        const { KeyMetadata: key } = await client.send(new sdk.DescribeKeyCommand({ KeyId: keyId }));
        if (!key?.Arn) {
          throw new KmsError(
            'DescribeKey',
            keyId,
            'MalformedAnswer',
            false,
            `KMS DescribeKey of ${keyId} answered no ARN`,
          );
        }
        return {
          keyArn: key.Arn,
          enabled: key.Enabled === true && (key.KeyState ?? 'Enabled') === 'Enabled',
        };
      }),
  };
}

/**
 * clientSettings' rule for KMS: AWS_ENDPOINT_URL_KMS (`aws.endpoints.kms`) when configured, `endpoint`
 * over it; the region and the credentials for a local endpoint as for every other client.
 */
function kmsClientSettings(aws: AwsConfig, endpoint: string | undefined) {
  return clientSettings(
    { ...aws, endpoints: { ...aws.endpoints, kms: endpoint ?? aws.endpoints.kms } },
    'kms',
  );
}

/** A KmsError naming the operation, the key and KMS's error; never the request (it may hold a wrapped key). */
function kmsFailure(operation: string, keyId: string, error: unknown): KmsError {
  const failure = (error ?? {}) as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    $fault?: unknown;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const name = typeof failure.name === 'string' ? failure.name : 'Error';
  const code = typeof failure.code === 'string' ? failure.code : undefined;
  const status =
    typeof failure.$metadata?.httpStatusCode === 'number' ? failure.$metadata.httpStatusCode : undefined;
  const answered = failure.$fault === 'client' || failure.$fault === 'server' || status !== undefined;
  const network =
    !answered && (NETWORK_CODES.test(code ?? '') || name === 'TimeoutError' || name === 'AbortError');
  const transient =
    network ||
    TRANSIENT_EXCEPTIONS.has(name) ||
    failure.$fault === 'server' ||
    (status !== undefined && status >= 500) ||
    failure.$retryable !== undefined;
  const kmsName = network ? (code ?? name) : name;
  // The SDK says UnknownError where KMS gave no message (InvalidCiphertextException never has one).
  const said =
    typeof failure.message === 'string' && failure.message !== 'UnknownError' ? failure.message : '';
  const detail = redact(said || (HINTS[kmsName] ?? ''));
  const what = network ? `network error ${kmsName}` : kmsName;
  const message = `KMS ${operation} with key ${keyId} failed: ${what}${detail && detail !== kmsName ? ` (${detail})` : ''}${transient ? ' (transient)' : ''}`;
  return new KmsError(operation, keyId, kmsName, transient, message);
}

/** KMS's message, shortened, with any long base64 run (a blob, were one ever echoed) left out. */
function redact(message: string): string {
  const text = message.replace(/[A-Za-z0-9+/]{64,}={0,2}/g, '[redacted]').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
