import { createHash, randomBytes } from 'node:crypto';
import { mallApiBase } from '../cafe24/api-base.ts';
import { LAUNCH_WINDOW_SECONDS, type LaunchRefusal, verifyAppLaunch } from '../cafe24/app-launch.ts';
import { describeError } from '../commons/errors.ts';
import type { Log } from '../commons/log.ts';
import type { Secret } from '../commons/secret.ts';
import type {
  CodeOutcome,
  HandOff,
  InstallStore,
  Launcher,
  MallAccess,
  StateRefusal,
} from '../domain/install-ports.ts';
import { sleepFor } from '../domain/retry.ts';

/**
 * The install, framework-free: `startInstall` answers Cafe24's app launch (GET /install) and
 * `finishInstall` its OAuth callback. The HTTP layer (app.ts) only maps requests and outcomes.
 */

export type InstallSettings = {
  clientId: string;
  /**
   * CAFE24_REDIRECT_URI; unset, each install's is derived from the origin the front was reached at
   * (`<origin>/callback`, DERIVED_CALLBACK_PATH): a first deploy's HTTP API host, before any domain.
   */
  redirectUri: string | undefined;
  /** `https://{mall_id}.cafe24api.com`; `{mall_id}` is substituted. */
  apiBaseUrl: string;
  scopes: string[];
  stateTtlMs: number;
  /** How long the callback waits for the exchange before it answers "almost done". */
  outcomeWaitMs: number;
  pollIntervalMs: number;
};

export type InstallDeps = {
  store: InstallStore;
  /** Publishes the code to the exchange queue; absent, the relay publishes it. */
  handOff: HandOff | undefined;
  /** The app's client secret: the launch hmac's key. */
  clientSecret: () => Promise<Secret>;
  settings: InstallSettings;
  log: Log;
  now?: () => number;
};

export const STATE_TTL_MS = 10 * 60_000;
/** The callback's path where no CAFE24_REDIRECT_URI says it. */
export const DERIVED_CALLBACK_PATH = '/callback';

/** The redirect URI an install started at `origin` sends Cafe24. */
export function redirectUriFor(settings: InstallSettings, origin: string): string {
  return settings.redirectUri ?? `${origin}${DERIVED_CALLBACK_PATH}`;
}
export const DEFAULT_SETTINGS = {
  stateTtlMs: STATE_TTL_MS,
  outcomeWaitMs: 8_000,
  pollIntervalMs: 150,
} as const;

/** A browser binding (the cookie's value) or a state: 256 random bits, base64url. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const MAX_CODE_LENGTH = 512;

export type InstallStart =
  | { kind: 'redirect'; location: string; browser: string; mallId: string; launcher: Launcher }
  /** Opened again: the mall's tokens are alive and cover the scopes, so no OAuth runs. */
  | { kind: 'launched'; mallId: string; launcher: Launcher }
  | { kind: 'refused'; reason: LaunchRefusal };

/**
 * Verifies the launch. For a mall whose tokens are alive and cover the scopes asked for, that is all: the
 * app opens (no state, no code, no Cafe24 request). Otherwise it stores a new state (its hash only) bound
 * to the browser, with who launched, and says where to send the browser. `browser` is the install
 * cookie's value if the browser has one (two tabs share it).
 */
export async function startInstall(
  deps: InstallDeps,
  rawQuery: string,
  browser: string | undefined,
  origin: string,
): Promise<InstallStart> {
  const secret = await deps.clientSecret();
  const verified = verifyAppLaunch(rawQuery, secret.reveal(), (deps.now ?? Date.now)());
  if (!verified.ok) {
    deps.log.warn('app launch refused', { reason: verified.reason });
    return { kind: 'refused', reason: verified.reason };
  }
  const { mallId, timestamp, ...launcher } = verified.launch;
  if (canOpen(await deps.store.mallAccess(mallId), deps.settings.scopes)) {
    // Each launch opens the app once: its URL, replayed from a history or a log, mints nothing more.
    const staleInMs = (timestamp + LAUNCH_WINDOW_SECONDS) * 1000 - (deps.now ?? Date.now)();
    if (!(await deps.store.recordLaunch(sha256(rawQuery), mallId, Math.max(staleInMs, 60_000)))) {
      deps.log.warn('app launch refused', { reason: 'used-launch', mallId });
      return { kind: 'refused', reason: 'used-launch' };
    }
    deps.log.info('app launched', { mallId });
    return { kind: 'launched', mallId, launcher };
  }
  const state = randomToken();
  const binding = browser !== undefined && TOKEN_PATTERN.test(browser) ? browser : randomToken();
  const redirectUri = redirectUriFor(deps.settings, origin);
  await deps.store.createState({
    stateHash: sha256(state),
    browserHash: sha256(binding),
    mallId,
    launcher,
    redirectUri,
    ttlMs: deps.settings.stateTtlMs,
  });
  deps.log.info('install started', { mallId });
  return {
    kind: 'redirect',
    location: authorizeUrl(deps.settings, mallId, state, redirectUri),
    browser: binding,
    mallId,
    launcher,
  };
}

/**
 * The relaunch rule (docs/design.md, "The app's entry"): an `active` row whose refresh token is alive and
 * whose scopes include every scope asked for. No row (never installed, or removed), an `invalid` mall or
 * widened scopes run the install, which asks for consent again.
 */
export function canOpen(access: MallAccess | undefined, scopes: readonly string[]): boolean {
  if (access?.status !== 'active' || !access.refreshAlive) return false;
  const granted = new Set(access.scopes);
  return scopes.every((scope) => granted.has(scope));
}

/** `{api base}/api/v2/oauth/authorize?response_type=code&client_id&state&redirect_uri&scope`. */
export function authorizeUrl(
  settings: InstallSettings,
  mallId: string,
  state: string,
  redirectUri: string,
): string {
  const base = mallApiBase(settings.apiBaseUrl, mallId);
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: settings.clientId,
    state,
    redirect_uri: redirectUri,
    scope: settings.scopes.join(','),
  });
  return `${base}/api/v2/oauth/authorize?${query}`;
}

export type CallbackQuery = {
  code: string | undefined;
  state: string | undefined;
  error: string | undefined;
  errorDescription: string | undefined;
  /** A parameter given more than once. */
  repeated: boolean;
};

/** A callback's outcome; those with a mall also say who launched the install (from its state). */
export type InstallOutcome =
  | { kind: 'installed'; mallId: string; launcher: Launcher; scopes: string[]; expiresAt: Date }
  | { kind: 'pending'; mallId: string; launcher: Launcher }
  | { kind: 'failed'; mallId: string; launcher: Launcher; reason: string }
  | {
      kind: 'cafe24-error';
      mallId: string | undefined;
      launcher: Launcher | undefined;
      error: string;
      description: string | undefined;
    }
  | { kind: 'bad-callback'; reason: 'missing-code' | 'missing-state' | 'malformed' }
  | { kind: 'state-refused'; reason: StateRefusal };

/** OAuth error codes logged as they are; anything else is logged as "other" (never a query value). */
const KNOWN_ERRORS = new Set([
  'access_denied',
  'invalid_request',
  'invalid_scope',
  'unauthorized_client',
  'unsupported_response_type',
  'server_error',
  'temporarily_unavailable',
]);

/**
 * The callback: the state must exist, be unexpired and unused, and belong to this browser. The state is
 * consumed and the code stored in one transaction; the code is handed on at once, and the outcome
 * awaited for a few seconds.
 */
export async function finishInstall(
  deps: InstallDeps,
  query: CallbackQuery,
  browser: string | undefined,
): Promise<InstallOutcome> {
  if (query.repeated) return badCallback(deps, 'malformed');
  const state = query.state;
  const wellFormedState = state !== undefined && TOKEN_PATTERN.test(state);
  const wellFormedBrowser = browser !== undefined && TOKEN_PATTERN.test(browser);

  if (query.error !== undefined) {
    // Declined or refused: the state is spent all the same, so the link cannot be replayed.
    const consumed =
      wellFormedState && wellFormedBrowser
        ? await deps.store.consumeState(sha256(state), sha256(browser))
        : undefined;
    return cafe24Error(deps, query, consumed?.ok ? consumed : undefined);
  }
  if (state === undefined || state === '') return badCallback(deps, 'missing-state');
  if (!wellFormedState) return stateRefused(deps, 'unknown-state');
  if (browser === undefined) return stateRefused(deps, 'missing-cookie');
  if (!wellFormedBrowser) return stateRefused(deps, 'wrong-browser');
  const code = query.code;
  if (code === undefined || code === '') return badCallback(deps, 'missing-code');
  if (code.length > MAX_CODE_LENGTH) return badCallback(deps, 'malformed');

  const stored = await deps.store.consumeStateAndStoreCode(sha256(state), sha256(browser), code);
  if (!stored.ok) return stateRefused(deps, stored.reason);
  deps.log.info('authorization code stored', { mallId: stored.mallId, codeId: stored.codeId });

  if (deps.handOff) {
    await deps.handOff(stored.codeId).catch((error: unknown) => {
      deps.log.warn('could not hand the code on; the relay will publish it', {
        codeId: stored.codeId,
        error: describeError(error),
      });
    });
  }
  return toOutcome(stored.mallId, stored.launcher, await awaitOutcome(deps, stored.codeId));
}

async function awaitOutcome(deps: InstallDeps, codeId: string): Promise<CodeOutcome | undefined> {
  const now = deps.now ?? Date.now;
  const deadline = now() + deps.settings.outcomeWaitMs;
  for (;;) {
    const outcome = await deps.store.codeOutcome(codeId);
    const final = outcome && ['exchanged', 'failed', 'expired'].includes(outcome.status);
    if (final || now() >= deadline) return outcome;
    await sleepFor(deps.settings.pollIntervalMs);
  }
}

function toOutcome(mallId: string, launcher: Launcher, outcome: CodeOutcome | undefined): InstallOutcome {
  if (outcome?.status === 'exchanged' && outcome.token) {
    const { scopes, expiresAt } = outcome.token;
    return { kind: 'installed', mallId, launcher, scopes, expiresAt };
  }
  if (outcome?.status === 'exchanged') {
    return { kind: 'failed', mallId, launcher, reason: outcome.lastError ?? 'the mall kept a newer token' };
  }
  if (outcome?.status === 'failed' || outcome?.status === 'expired') {
    return { kind: 'failed', mallId, launcher, reason: outcome.lastError ?? `the code ${outcome.status}` };
  }
  return { kind: 'pending', mallId, launcher };
}

function cafe24Error(
  deps: InstallDeps,
  query: CallbackQuery,
  consumed: { mallId: string; launcher: Launcher } | undefined,
): InstallOutcome {
  const error = query.error ?? '';
  deps.log.warn('cafe24 answered the install with an error', {
    error: KNOWN_ERRORS.has(error) ? error : 'other',
    ...(consumed ? { mallId: consumed.mallId } : {}),
  });
  return {
    kind: 'cafe24-error',
    mallId: consumed?.mallId,
    launcher: consumed?.launcher,
    error,
    // Shown on the page only for the install it belongs to: a forged link puts no words on our page.
    description: consumed ? query.errorDescription : undefined,
  };
}

function badCallback(
  deps: InstallDeps,
  reason: 'missing-code' | 'missing-state' | 'malformed',
): InstallOutcome {
  deps.log.warn('callback refused', { reason });
  return { kind: 'bad-callback', reason };
}

function stateRefused(deps: InstallDeps, reason: StateRefusal): InstallOutcome {
  deps.log.warn('callback refused', { reason });
  return { kind: 'state-refused', reason };
}

function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
