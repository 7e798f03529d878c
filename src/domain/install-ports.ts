import type { CodeStatus } from './ports.ts';

/** Why a callback's `state` was refused; safe to log. */
export type StateRefusal =
  | 'unknown-state'
  | 'used-state'
  | 'expired-state'
  | 'wrong-browser'
  | 'missing-cookie';

/**
 * Who opened the app, from Cafe24's verified launch (its `shop_no`, `user_id`, `user_name`, `user_type`,
 * `lang`, `nation`, `is_multi_shop`): kept with an install's state so the callback knows it too.
 */
export type Launcher = {
  shopNo?: string | undefined;
  userId?: string | undefined;
  userName?: string | undefined;
  userType?: string | undefined;
  lang?: string | undefined;
  nation?: string | undefined;
  isMultiShop?: string | undefined;
};

/** What the install front needs to know of a mall's tokens to open the app without OAuth. */
export type MallAccess = {
  status: 'active' | 'invalid';
  /** The refresh token has not expired (on the database's clock). */
  refreshAlive: boolean;
  scopes: string[];
};

/** A state consumed: the mall and who started its install. */
export type StateConsumed =
  | { ok: true; mallId: string; launcher: Launcher }
  | { ok: false; reason: StateRefusal };

/** Where a stored code stands, as the person's page tells it. */
export type CodeOutcome = {
  mallId: string;
  status: CodeStatus;
  lastError: string | undefined;
  /** The mall's token when this code produced it. */
  token: { expiresAt: Date; scopes: string[] } | undefined;
};

/** The install's storage (src/store/install-states.ts implements it on PostgreSQL). */
export interface InstallStore {
  createState(state: {
    stateHash: Buffer;
    browserHash: Buffer;
    mallId: string;
    launcher: Launcher;
    /** The redirect URI sent to Cafe24 with this state: the code it brings back is exchanged with it. */
    redirectUri: string;
    ttlMs: number;
  }): Promise<void>;
  consumeStateAndStoreCode(
    stateHash: Buffer,
    browserHash: Buffer,
    code: string,
  ): Promise<(StateConsumed & { ok: true; codeId: string }) | (StateConsumed & { ok: false })>;
  consumeState(stateHash: Buffer, browserHash: Buffer): Promise<StateConsumed>;
  codeOutcome(codeId: string): Promise<CodeOutcome | undefined>;
  /**
   * The mall's token row as the relaunch needs it, read after any removal or invalidation in flight on
   * that row has committed (so a relaunch racing one sees its result); undefined when there is no row.
   */
  mallAccess(mallId: string): Promise<MallAccess | undefined>;
  /**
   * Records that the launch whose query hashes to `querySha256` opened the app, kept `ttlMs`; false when
   * it already had (a replayed launch URL).
   */
  recordLaunch(querySha256: Buffer, mallId: string, ttlMs: number): Promise<boolean>;
}

/** Hands a stored code to the exchange at once (the relay stays the safety net). */
export type HandOff = (codeId: string) => Promise<void>;
