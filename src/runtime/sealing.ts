import { kmsKeyWrapper } from '../aws/kms.ts';
import { describeError } from '../commons/errors.ts';
import type { Log } from '../commons/log.ts';
import { localDataKeys, TokenCodec } from '../commons/token-codec.ts';
import type { ConfigFor } from '../config.ts';
import { envelopeDataKeys } from '../domain/data-keys.ts';
import { PostgresDataKeyStore } from '../store/data-keys.ts';
import type { Pool } from '../store/pool.ts';

type SealingConfig = Pick<ConfigFor<'refresh'>, 'sealing' | 'aws'>;

/**
 * The one codec of a process, from its configuration: envelope encryption under TOKEN_KMS_KEY_ID (the
 * wrapped data keys in `pool`'s database, the plain ones cached for the container), TOKEN_ENCRYPTION_KEY,
 * or plaintext.
 */
export function tokenCodecFor(config: SealingConfig, pool: Pool): TokenCodec {
  const { kmsKeyId, encryptionKey } = config.sealing;
  if (kmsKeyId !== undefined) {
    return new TokenCodec(
      envelopeDataKeys({
        wrapper: kmsKeyWrapper({ keyId: kmsKeyId, aws: config.aws }),
        store: new PostgresDataKeyStore(pool),
      }),
    );
  }
  return new TokenCodec(encryptionKey === undefined ? undefined : localDataKeys(encryptionKey.reveal()));
}

/**
 * Fetches the data key now, at a container's start, so the first code does not wait for KMS, and a key
 * that is missing, disabled or denied is named in the log before any code depends on it. Never rejects:
 * each seal asks again.
 */
export function warmTokenCodec(codec: TokenCodec, config: SealingConfig, log: Log): void {
  codec.ready().catch((error: unknown) => {
    log.error('the data key to seal tokens with is not available', {
      kmsKeyId: config.sealing.kmsKeyId,
      error: describeError(error),
    });
  });
}
