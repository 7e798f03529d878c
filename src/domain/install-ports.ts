import type { CodeStatus } from './ports.ts';

/** Why a callback's `state` was refused; safe to log. */
export type StateRefusal =
  | 'unknown-state'
  | 'used-state'
  | 'expired-state'
  | 'wrong-browser'
  | 'missing-cookie';

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
    ttlMs: number;
  }): Promise<void>;
  consumeStateAndStoreCode(
    stateHash: Buffer,
    browserHash: Buffer,
    code: string,
  ): Promise<{ ok: true; mallId: string; codeId: string } | { ok: false; reason: StateRefusal }>;
  consumeState(
    stateHash: Buffer,
    browserHash: Buffer,
  ): Promise<{ ok: true; mallId: string } | { ok: false; reason: StateRefusal }>;
  codeOutcome(codeId: string): Promise<CodeOutcome | undefined>;
}

/** Hands a stored code to the exchange at once (the relay stays the safety net). */
export type HandOff = (codeId: string) => Promise<void>;
