/** The sandbox's options and faults: shared by its parts, exported by `local/cafe24-sandbox.ts`. */

export type SandboxFault =
  | { type: 'status'; status: number; body?: string; contentType?: string }
  | { type: 'rate-limit'; retryAfterSeconds?: number }
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
};

/** The options the endpoints read, defaults filled in. */
export type SandboxSettings = Required<Omit<SandboxOptions, 'host' | 'port' | 'stateFile' | 'log'>>;
