import { KmsError, kmsKeyWrapper } from '../aws/kms.ts';
import { describeError } from '../commons/errors.ts';
import { type AwsConfig, type Command, commands, loadSection } from '../config.ts';
import { openPool } from '../runtime/database.ts';
import { PostgresDataKeyStore } from '../store/data-keys.ts';
import { sealingCounts } from '../store/sealing.ts';
import type { Check } from './doctor-check.ts';

const ENCRYPT_FIX =
  'run `cafe24-tokens encrypt` with this configuration: it seals them in place, safe to rerun';

/**
 * Whether tokens are sealed at rest, and with what (design: "Tokens encrypted at rest"): the KMS key
 * (DescribeKey: there and enabled), the current data key (unwrapped, which proves Decrypt), and how many
 * rows are still plaintext, or sealed with a key this configuration cannot open. Key material is never
 * printed: key ids, ARNs and counts only. Asked for the commands that read or write tokens.
 */
export async function checkSealing(
  source: NodeJS.ProcessEnv | undefined,
  aws: AwsConfig,
  wanted: readonly Command[],
): Promise<Check[]> {
  if (!wanted.some((command) => (commands[command] as readonly string[]).includes('sealing'))) return [];
  const sealing = loadSection('sealing', source);
  const database = loadSection('database', source);
  // A configuration error is the `config` check's; no database is the database check's.
  if (!sealing || !database) return [];
  const pool = openPool({ database, aws }, { max: 1, applicationName: 'cafe24-tokens doctor' });
  try {
    let counts: Awaited<ReturnType<typeof sealingCounts>>;
    try {
      counts = await sealingCounts(pool);
    } catch {
      return []; // the database check says why (unreachable, not migrated)
    }
    const rows = `${counts.sealed} of ${counts.sealed + counts.plaintext} token row(s) sealed`;
    if (sealing.kmsKeyId === undefined && sealing.encryptionKey === undefined) {
      return [
        {
          check: 'token sealing',
          ok: true,
          warning: true,
          detail: `off: tokens are stored in plaintext (${rows}); a database dump or a read replica holds every mall`,
          fix: 'set TOKEN_KMS_KEY_ID (the stack output TokenKeyArn), then run `cafe24-tokens encrypt`',
        },
      ];
    }
    const checks: Check[] = [];
    if (sealing.kmsKeyId === undefined) {
      checks.push({
        check: 'token sealing',
        ok: true,
        ...(counts.plaintext > 0 ? { warning: true as const, fix: ENCRYPT_FIX } : {}),
        detail: `with TOKEN_ENCRYPTION_KEY (for local runs; deployments use TOKEN_KMS_KEY_ID): ${rows}`,
      });
      return checks;
    }
    checks.push(...(await checkKmsKey(sealing.kmsKeyId, aws, pool)));
    checks.push({
      check: 'token sealing',
      ok: counts.local === 0,
      ...(counts.local > 0
        ? {
            fix: 'those rows were sealed with a TOKEN_ENCRYPTION_KEY (a local run), which no deployment key opens: `cafe24-tokens refresh` reports them unreadable; delete them if they came from a test, else those malls need a new install',
          }
        : counts.plaintext > 0
          ? { warning: true as const, fix: ENCRYPT_FIX }
          : {}),
      detail:
        `under KMS: ${rows}` +
        (counts.plaintext > 0 ? `, ${counts.plaintext} still in plaintext` : '') +
        (counts.local > 0 ? `, ${counts.local} sealed with a local key this deployment cannot open` : ''),
    });
    return checks;
  } finally {
    await pool.end().catch(() => {});
  }
}

/** The KMS key there and enabled, and the current data key unwrapped with it. */
async function checkKmsKey(
  kmsKeyId: string,
  aws: AwsConfig,
  pool: ReturnType<typeof openPool>,
): Promise<Check[]> {
  const wrapper = kmsKeyWrapper({ keyId: kmsKeyId, aws, maxAttempts: 1 });
  let keyArn: string;
  try {
    const described = await wrapper.describe();
    keyArn = described.keyArn;
    if (!described.enabled) {
      return [
        {
          check: 'TOKEN_KMS_KEY_ID',
          ok: false,
          detail: `${keyArn} is disabled (or pending deletion): no token can be sealed or opened`,
          fix: 'enable the key in KMS (a key pending deletion: cancel the deletion first)',
        },
      ];
    }
  } catch (error) {
    return [
      { check: 'TOKEN_KMS_KEY_ID', ok: false, detail: describeError(error), fix: kmsFix(kmsKeyId, error) },
    ];
  }
  const checks: Check[] = [{ check: 'TOKEN_KMS_KEY_ID', ok: true, detail: `${keyArn}, enabled` }];
  const keys = new PostgresDataKeyStore(pool);
  let retiredKeys: number;
  let current: Awaited<ReturnType<PostgresDataKeyStore['current']>>;
  try {
    [retiredKeys, current] = await Promise.all([keys.retiredCount(), keys.current()]);
  } catch {
    return checks; // not migrated yet: the migrations check says so
  }
  if (!current) {
    checks.push({
      check: 'token data key',
      ok: true,
      detail: 'none yet: the first exchange makes one (kms:GenerateDataKey)',
    });
    return checks;
  }
  const retired =
    retiredKeys > 0
      ? `; ${retiredKeys} retired key(s) not deleted yet (a rotation unfinished: run \`cafe24-tokens rotate-key\`)`
      : '';
  try {
    (await wrapper.unwrap(current.wrapped, current.kmsKeyArn)).fill(0);
    checks.push({
      check: 'token data key',
      ok: true,
      ...(retiredKeys > 0 ? { warning: true as const } : {}),
      detail: `${current.id} current, opened with ${current.kmsKeyArn}${retired}`,
    });
  } catch (error) {
    checks.push({
      check: 'token data key',
      ok: false,
      detail: `${current.id} could not be opened: ${describeError(error)}`,
      fix: kmsFix(current.kmsKeyArn, error),
    });
  }
  return checks;
}

function kmsFix(keyId: string, error: unknown): string {
  const code = error instanceof KmsError ? error.code : '';
  if (code === 'NotFoundException')
    return `no such key in this account and region: check TOKEN_KMS_KEY_ID (${keyId}; the stack output TokenKeyArn) and AWS_REGION`;
  if (code === 'AccessDeniedException')
    return 'these credentials may not use the key: the key policy names who may (the stack parameter TokenKeyOperatorArns for people and tools)';
  if (code === 'DisabledException' || code === 'KMSInvalidStateException')
    return 'enable the key in KMS (a key pending deletion: cancel the deletion first)';
  if (code === 'InvalidCiphertextException' || code === 'IncorrectKeyException')
    return 'the data key was wrapped under another KMS key or changed: set TOKEN_KMS_KEY_ID to the key that made it';
  return 'KMS did not answer: check AWS_REGION (and AWS_ENDPOINT_URL_KMS locally); from a VPC, KMS needs the NAT or an interface endpoint com.amazonaws.<region>.kms';
}
