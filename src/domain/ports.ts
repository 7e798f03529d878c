import type { TokenSet } from '../cafe24/token-response.ts';
import type { Secret } from '../commons/secret.ts';

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
};

export type ClaimResult =
  | { claimed: true; code: ClaimedCode }
  | {
      claimed: false;
      status: CodeStatus;
      lastError: string | undefined;
      claimedAgoMs: number | undefined;
      /** Token requests sent so far: 0 means the code never left the database. */
      attempts: number;
    }
  | { claimed: false; status: 'missing' };

export type StoreOutcome = 'stored' | 'newer-token-kept';

/** The code and token tables, as the exchange needs them (Postgres in production, fakes in unit tests). */
export type CodeStore = {
  /** pending → exchanging, atomically: of any number of concurrent callers exactly one gets `claimed`. */
  claim(codeId: string, lifetimeMs: number): Promise<ClaimResult>;
  /** A token request is about to be sent for this code (counted in `attempts`). */
  recordAttempt(codeId: string): Promise<void>;
  /** One transaction: UPSERT the tokens (never over a newer issue) and mark the code exchanged. */
  recordSuccess(code: { id: string; mallId: string }, tokens: TokenSet): Promise<StoreOutcome>;
  /** A final state with its readable reason. */
  recordFailure(codeId: string, status: 'failed' | 'expired', reason: string): Promise<void>;
  /** The newest pending code of a mall (the seed's manual run), if any. */
  newestPending(mallId: string): Promise<string | undefined>;
};

/** Exchanges a code at Cafe24; throws ExchangeFailure. */
export type TokenIssuer = {
  exchangeCode(request: { mallId: string; code: Secret; redirectUri: string }): Promise<TokenSet>;
};

/**
 * Where issued tokens wait when the database cannot take them (rule 6), until a retry or a redelivery
 * stores them. Keyed by code id.
 */
export type TokenStash = {
  put(codeId: string, mallId: string, tokens: TokenSet): Promise<void>;
  take(codeId: string): Promise<{ mallId: string; tokens: TokenSet } | undefined>;
  codeIds(): Promise<string[]>;
};
