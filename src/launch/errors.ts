/** Why a launch key or token was refused. */

/** A sentence that says what to fix, never a key's or token's value; `code` for the app's own branching. */
export class LaunchTokenError extends Error {
  override name = 'LaunchTokenError';
  readonly code: LaunchTokenErrorCode;
  constructor(code: LaunchTokenErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export type LaunchTokenErrorCode =
  | 'malformed'
  | 'bad-signature'
  | 'unknown-key'
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-audience'
  | 'wrong-issuer'
  | 'bad-claims'
  | 'jwks-unavailable'
  | 'bad-key';
