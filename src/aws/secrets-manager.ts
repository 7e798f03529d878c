import { Secret } from '../commons/secret.ts';
import type { AwsConfig, ClientSecretConfig, LaunchKeyConfig } from '../config.ts';
import { clientSettings } from './clients.ts';

/**
 * A value from Secrets Manager, read on first use and kept `maxAgeMs` (rotated secrets are picked up
 * after that). A failed read is not kept, so the next use tries again. The secret may be a plain string
 * or JSON holding one of `keys`.
 */
export function secretsManagerValue(
  arn: string,
  options: { keys: string[]; maxAgeMs?: number; aws: AwsConfig },
): () => Promise<Secret> {
  return cachedSecret(() => fetchSecret(arn, options.keys, options.aws), options.maxAgeMs);
}

/** `read` on first use, kept `maxAgeMs`; a failed read is not kept. */
function cachedSecret(
  read: () => Promise<Secret>,
  maxAgeMs = Number.POSITIVE_INFINITY,
): () => Promise<Secret> {
  let cached: { value: Promise<Secret>; at: number } | undefined;
  return () => {
    if (!cached || Date.now() - cached.at > maxAgeMs) {
      const value = read().catch((error: unknown) => {
        cached = undefined;
        throw error;
      });
      cached = { value, at: Date.now() };
    }
    return cached.value;
  };
}

/** The Cafe24 client secret: from the environment, or from Secrets Manager once per container. */
export function clientSecretSource(source: ClientSecretConfig, aws: AwsConfig): () => Promise<Secret> {
  if ('value' in source) return async () => source.value;
  // Re-read every 5 minutes, so a rotated client secret reaches warm containers too.
  return secretsManagerValue(source.arn, {
    keys: ['client_secret', 'CAFE24_CLIENT_SECRET'],
    maxAgeMs: 5 * 60_000,
    aws,
  });
}

/** Cafe24's webhook key: from the environment, or from Secrets Manager (re-read every 5 minutes). */
export function webhookKeySource(
  source: { key?: { value: Secret } | { arn: string } },
  aws: AwsConfig,
): (() => Promise<Secret>) | undefined {
  const key = source.key;
  if (key === undefined) return undefined;
  if ('value' in key) return async () => key.value;
  return secretsManagerValue(key.arn, {
    keys: ['api_key', 'CAFE24_WEBHOOK_API_KEY'],
    maxAgeMs: 5 * 60_000,
    aws,
  });
}

/**
 * The launch token's signing key: from the environment, or a Secrets Manager secret whose whole text is
 * the key (a PKCS#8 PEM, a private JWK or a JWK Set), re-read every 5 minutes so a rotation is followed.
 */
export function launchKeySource(key: LaunchKeyConfig, aws: AwsConfig): () => Promise<Secret> {
  if ('value' in key) return async () => key.value;
  return cachedSecret(() => fetchSecret(key.arn, [], aws), 5 * 60_000);
}

const databasePasswords = new Map<string, () => Promise<Secret>>();

/**
 * The database password behind PGPASSWORD_SECRET_ARN (an RDS-managed secret is JSON with `password`),
 * shared by every pool of the process and re-read every 5 minutes so a rotation is followed.
 */
export function databasePasswordSource(arn: string, aws: AwsConfig): () => Promise<string> {
  let source = databasePasswords.get(arn);
  if (!source) {
    source = secretsManagerValue(arn, { keys: ['password'], maxAgeMs: 5 * 60_000, aws });
    databasePasswords.set(arn, source);
  }
  const read = source;
  return async () => (await read()).reveal();
}

async function fetchSecret(arn: string, keys: string[], aws: AwsConfig): Promise<Secret> {
  // Loaded on first use: the SDK costs ~75 ms of start-up, which plain configuration never pays.
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient(clientSettings(aws, 'secretsManager'));
  try {
    const answer = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    const text = answer.SecretString;
    if (!text) throw new Error(`secret ${arn} has no SecretString`);
    // No keys: the whole text is the secret (a JWK is JSON itself).
    return new Secret(keys.length === 0 ? text.trim() : secretFromText(text, arn, keys));
  } finally {
    client.destroy();
  }
}

/** A plain string, or a JSON object holding one of `keys`. */
export function secretFromText(text: string, arn: string, keys: string[]): string {
  if (!text.trimStart().startsWith('{')) return text.trim();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`secret ${arn} looks like JSON but does not parse`);
  }
  const value = keys
    .map((key) => json[key])
    .find((candidate) => typeof candidate === 'string' && candidate !== '');
  if (typeof value !== 'string') {
    throw new Error(`secret ${arn} is JSON without a ${keys.map((key) => `"${key}"`).join(' or ')} string`);
  }
  return value;
}
