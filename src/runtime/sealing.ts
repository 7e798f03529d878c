import { localDataKeys, TokenCodec } from '../commons/token-codec.ts';
import type { ConfigFor } from '../config.ts';

/** The one codec of a process, from its configuration: sealing with TOKEN_ENCRYPTION_KEY, or plaintext. */
export function tokenCodecFor(config: Pick<ConfigFor<'refresh'>, 'sealing'>): TokenCodec {
  const key = config.sealing.encryptionKey;
  return new TokenCodec(key === undefined ? undefined : localDataKeys(key.reveal()));
}
