import type { Config } from '../config.ts';
import { Secret } from './secret.ts';

/**
 * The client secret, from the environment or Secrets Manager, read once per container. A failed read is
 * not cached, so the next invocation tries again.
 */
export function clientSecretSource(
  source: Config['cafe24']['clientSecret'],
  region?: string,
): () => Promise<Secret> {
  if ('value' in source) return async () => source.value;
  let pending: Promise<Secret> | undefined;
  return () => {
    pending ??= fetchSecret(source.arn, region).catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

async function fetchSecret(arn: string, region?: string): Promise<Secret> {
  // Loaded on first use: the SDK costs ~75 ms of start-up, which a plain CAFE24_CLIENT_SECRET never pays.
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient(region ? { region } : {});
  const answer = await client.send(new GetSecretValueCommand({ SecretId: arn }));
  const text = answer.SecretString;
  if (!text) throw new Error(`secret ${arn} has no SecretString`);
  return new Secret(secretFromText(text, arn));
}

/** A plain string, or a JSON object holding `client_secret` or `CAFE24_CLIENT_SECRET`. */
export function secretFromText(text: string, arn: string): string {
  if (!text.trimStart().startsWith('{')) return text.trim();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`secret ${arn} looks like JSON but does not parse`);
  }
  const value = json.client_secret ?? json.CAFE24_CLIENT_SECRET;
  if (typeof value !== 'string' || value === '') {
    throw new Error(`secret ${arn} is JSON without a "client_secret" (or "CAFE24_CLIENT_SECRET") string`);
  }
  return value;
}
