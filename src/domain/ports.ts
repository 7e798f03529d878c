import type { Secret } from '../commons/secret.ts';

/**
 * Tokens Cafe24 issued, by either grant, as the domain knows them. The token client maps Cafe24's answer
 * onto this (src/cafe24/token-response.ts): timestamps read as the instants they are, secrets wrapped.
 */
export type TokenSet = {
  accessToken: Secret;
  expiresAt: Date;
  refreshToken: Secret;
  refreshTokenExpiresAt: Date;
  issuedAt: Date;
  mallId: string;
  clientId: string | undefined;
  userId: string | undefined;
  scopes: string[] | undefined;
  shopNo: string | undefined;
  tokenType: string | undefined;
};

/** The codes table's state machine; the migration's check constraint holds the same list. */
export const CODE_STATUSES = ['pending', 'exchanging', 'exchanged', 'failed', 'expired'] as const;
export type CodeStatus = (typeof CODE_STATUSES)[number];

/** A code this worker owns: its row was moved from `pending` to `exchanging` by the claim. */
export type ClaimedCode = {
  id: string;
  mallId: string;
  code: Secret;
  redirectUri: string | undefined;
  /** Time left in the code's life when it was claimed, by the database's clock. */
  remainingMs: number;
  /**
   * The claim also counted the first attempt (one statement, before the request): the exchange sends
   * without a separate record, and gives the count back (`unsentAttempt`) if it ends before sending.
   */
  attemptRecorded?: boolean;
};

export type ClaimResult =
  | { claimed: true; code: ClaimedCode }
  | {
      claimed: false;
      status: CodeStatus;
      lastError: string | undefined;
      /** Recorded `failed` as interrupted (sent, no result recorded): its tokens may wait in a stash. */
      interrupted?: boolean;
      claimedAgoMs: number | undefined;
      /** Token requests sent so far: 0 means the code never left the database. */
      attempts: number;
      /** Rule 11: the code's mall was removed after the code was created; it is never sent. */
      removed?: boolean;
    }
  | { claimed: false; status: 'missing' };

/** `removed`: the mall was removed (rule 11) and nothing was stored: the pair is dropped. */
export type StoreOutcome = 'stored' | 'newer-token-kept' | 'removed';

/** An exchange's store: `reinstalled` is `stored` for a mall back after a removal or from `invalid`. */
export type ExchangeStoreOutcome = StoreOutcome | 'reinstalled';

/** The code and token tables, as the exchange needs them (Postgres in production, fakes in unit tests). */
export type CodeStore = {
  /**
   * Resolves once the tokens of a code can be stored as the store will store them (sealed: the data key
   * at hand); rejects while they cannot (KMS unavailable or denying). Asked before a code is sent.
   */
  ready(): Promise<void>;
  /** pending → exchanging, atomically: of any number of concurrent callers exactly one gets `claimed`. */
  claim(codeId: string, lifetimeMs: number): Promise<ClaimResult>;
  /**
   * exchanging → pending: the claimer gives the code back for a later delivery (its time ran out).
   * `unsentAttempt`: an attempt was counted (by the claim) whose request was never sent: uncount it.
   */
  release(codeId: string, options?: { unsentAttempt?: boolean }): Promise<void>;
  /** A token request is about to be sent for this code (counted in `attempts`). */
  recordAttempt(codeId: string): Promise<void>;
  /** One transaction: UPSERT the tokens (never over a newer issue) and mark the code exchanged. */
  recordSuccess(code: { id: string; mallId: string }, tokens: TokenSet): Promise<ExchangeStoreOutcome>;
  /**
   * A final state with its readable reason (`unsentAttempt` as for `release`; `interrupted`: sent, no
   * result recorded, so its tokens may still wait in a stash).
   */
  recordFailure(
    codeId: string,
    status: 'failed' | 'expired',
    reason: string,
    options?: { unsentAttempt?: boolean; interrupted?: boolean },
  ): Promise<void>;
  /** The newest pending code of a mall (the seed's manual run), if any. */
  newestPending(mallId: string): Promise<string | undefined>;
};

/** Exchanges a code at Cafe24; throws TokenFailure. */
export type TokenIssuer = {
  /** `timeoutMs` shortens the client's own request timeout (never lengthens it). */
  exchangeCode(request: {
    mallId: string;
    code: Secret;
    redirectUri: string;
    timeoutMs?: number;
  }): Promise<TokenSet>;
};

/** Which grant issued stashed tokens, and so what they are keyed by: a code id, or a mall id. */
export type StashGrant = 'authorization_code' | 'refresh_token';

/** Issued tokens the database could not take yet. */
export type StashEntry = { grant: StashGrant; key: string; mallId: string; tokens: TokenSet };

/**
 * Where issued tokens wait when the database cannot take them (rules 6 and 8), until a retry, a
 * redelivery or the next refresh of the mall stores them. Keyed by what was issued: a code's tokens by
 * code id, a refreshed pair by mall id (it holds the mall's only live refresh token).
 */
export type TokenStash = {
  put(entry: StashEntry): Promise<void>;
  /** Removes and returns the entry: whoever took it stores it, or puts it back. */
  take(grant: StashGrant, key: string): Promise<StashEntry | undefined>;
  /** What this process holds (not a listing of any shared store). */
  entries(): Promise<Array<{ grant: StashGrant; key: string }>>;
  /** Whether a copy of this entry outlives the process (a bucket took it), so its exit loses nothing. */
  durable(grant: StashGrant, key: string): Promise<boolean>;
};

/** A token row's state; the migration's check constraint holds the same list. */
export const TOKEN_STATUSES = ['active', 'invalid'] as const;
export type TokenStatus = (typeof TOKEN_STATUSES)[number];

/** A token row as the refresh sees it, read under its lease. Times relative to the database's clock. */
export type TokenRow = {
  mallId: string;
  status: TokenStatus;
  accessToken: Secret;
  refreshToken: Secret;
  issuedAt: Date;
  expiresAt: Date;
  refreshTokenExpiresAt: Date;
  /** expires_at − now(), by the database's clock. */
  expiresInMs: number;
  /** refresh_token_expires_at − now(), by the database's clock. */
  refreshExpiresInMs: number;
  invalidReason: string | undefined;
  /**
   * A holder that sent the refresh token and never recorded the answer (it died, or the database refused
   * its rotated pair, which may wait in that process's stash), and how long ago; cleared by a stored pair.
   */
  unrecordedSend: { by: string; ageMs: number } | undefined;
};

/**
 * The per-mall refresh lease (rule 7): of any number of concurrent claimers, one gets `claimed`.
 * `seenRefreshToken` is the row's refresh token as the claim first found it, before waiting for any other
 * holder: a later lease that finds another knows a refresh finished after this call began.
 */
export type RefreshClaim =
  | { status: 'claimed'; owner: string; row: TokenRow; seenRefreshToken: Secret }
  | { status: 'locked'; owner: string; leaseLeftMs: number; seenRefreshToken: Secret }
  | { status: 'missing' };

/** `cafe24.oauth_tokens`, as the refresh needs it (Postgres in production, fakes in unit tests). */
export type TokenStore = {
  /**
   * Resolves once a pair can be stored as the store will store it (sealed: the data key at hand);
   * rejects while it cannot (KMS unavailable or denying). Asked before a refresh token is sent.
   */
  ready(): Promise<void>;
  /**
   * Takes the mall's lease for `leaseMs` and returns the row as it is now (the re-read of rule 7). A row
   * whose tokens do not open rejects with TokenSealError (or DataKeyUnavailable), the lease given back.
   */
  claimRefresh(mallId: string, leaseMs: number): Promise<RefreshClaim>;
  /** `owner` is about to send the refresh token (recorded first, so a lost answer is known as such). */
  markSending(mallId: string, owner: string): Promise<void>;
  /** Gives the lease back, if `owner` still holds it. */
  release(mallId: string, owner: string): Promise<void>;
  /** The row without taking the lease. */
  read(mallId: string): Promise<TokenRow | undefined>;
  /**
   * One transaction that ends the refresh: UPSERT the pair (never over a newer issue, rule 10), record
   * the success and release `owner`'s lease.
   */
  storeRefreshed(mallId: string, tokens: TokenSet, owner: string | undefined): Promise<StoreOutcome>;
  /**
   * `invalid` with its reason, only while the row still holds `refused` (else someone rotated it: a
   * race, not a dead mall). Releases the lease. Returns whether the row was marked.
   */
  markInvalid(mallId: string, owner: string, refused: Secret, reason: string): Promise<boolean>;
  /** A transient failure: counted, its reason kept, the row stays active; releases the lease. */
  recordRefreshFailure(mallId: string, owner: string, reason: string): Promise<void>;
};

/** Refreshes a mall's tokens at Cafe24; throws TokenFailure. */
export type TokenRefresher = {
  refreshToken(request: { mallId: string; refreshToken: Secret }): Promise<TokenSet>;
};
