/** The sandbox's options and faults: shared by its parts, exported by `local/cafe24-sandbox.ts`. */

/** Where a fault lands: the token endpoint (the default, as before the Admin API) or the Admin API. */
export type FaultTarget = 'token' | 'admin';

/**
 * An injected failure (`failNext`, `setFault`) for the next request(s) of its `target`. To the Admin API,
 * `status` and `rate-limit` answer with Cafe24's resource error shape; `invalid-grant`, `invalid-client` and
 * `missing-fields` are the token endpoint's only (refused for `target: 'admin'`).
 */
export type SandboxFault = SandboxFaultKind & { target?: FaultTarget };

export type SandboxFaultKind =
  | { type: 'status'; status: number; body?: string; contentType?: string }
  /**
   * A 429, whatever the bucket says (the mall's real bucket is left as it is). `X-Cafe24-Call-Remain` says
   * `remainSeconds` (else `retryAfterSeconds`), `Retry-After` says `retryAfterSeconds` (else `remainSeconds`);
   * `withoutHeaders`: the bare 429, no rate-limit header at all.
   */
  | { type: 'rate-limit'; retryAfterSeconds?: number; remainSeconds?: number; withoutHeaders?: boolean }
  | { type: 'html'; status?: number }
  | { type: 'malformed-json' }
  /** 400 "Code time expired" to a code; to a refresh token, 401 "Invalid refresh_token" (and it dies). */
  | { type: 'invalid-grant' }
  /** The app's credentials refused: 401 invalid_client, or Cafe24's variant 400 invalid_grant. */
  | { type: 'invalid-client'; error?: 'invalid_client' | 'invalid_grant' }
  /** Processed (a code spent, a refresh token rotated) but never answered: the answer is lost. */
  | { type: 'hang-after-processing' }
  | { type: 'missing-fields' }
  | { type: 'huge-body'; bytes?: number }
  | { type: 'delay'; ms: number }
  /** Processed now, answered once `until` settles: a test decides when the answer arrives. */
  | { type: 'hold'; until: Promise<unknown> }
  | { type: 'hang' }
  | { type: 'reset' }
  /** A 400 whose `error` and `error_description` repeat the request: its Basic credential and its body. */
  | { type: 'echo' };

export type SandboxOptions = {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  host?: string;
  port?: number;
  /** Dev mode: a code never seen before counts as issued at its first sighting. */
  acceptUnknownCodes?: boolean;
  codeLifetimeMs?: number;
  /** Answer without `shop_no` and `token_type`, as real responses did in 2021. */
  omitOptionalFields?: boolean;
  now?: () => number;
  /** Show a consent page (Install / Decline) at authorize, as Cafe24 does; otherwise approve at once. */
  consent?: boolean;
  /** The app URL the app store launches (default: /install beside the redirect URI). */
  appUrl?: string;
  /** The mall the app store launches the app for. */
  appStoreMallId?: string;
  /** Keep what it issues in this file (read at start, rewritten on each change); in memory only without. */
  stateFile?: string;
  /** Where lines about the state file go (default stderr). */
  log?: (line: string) => void;
  /** The Admin API's per-mall leaky bucket (Cafe24's: 40 calls, draining 2 a second). */
  adminApi?: AdminApiOptions;
};

export type AdminApiOptions = {
  /** Calls the bucket holds (default 40). */
  bucketSize?: number;
  /** Calls it drains each second, on the sandbox's clock (default 2). */
  drainPerSecond?: number;
};

/** The options the endpoints read, defaults filled in. */
export type SandboxSettings = Required<
  Omit<SandboxOptions, 'host' | 'port' | 'stateFile' | 'log' | 'adminApi'>
>;
