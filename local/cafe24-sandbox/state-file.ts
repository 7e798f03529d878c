import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { ACCESS_TOKEN_LIFETIME_MS, emptyLedger, type Grant, type Ledger } from './grants.ts';

/**
 * The sandbox's ledger on disk, so a restarted local stack can still refresh the tokens its database holds.
 * Grants are stored once and referred to by index: a code and its tokens must still share one grant (a
 * reused code revokes them all). Lines logged about the file name it and never quote it: it holds tokens.
 */

const grantIndex = z.number().int().nonnegative();
const stateSchema = z.object({
  version: z.literal(1),
  grants: z.array(
    z.object({
      mallId: z.string(),
      issuedAtMs: z.number(),
      scopes: z.array(z.string()),
      used: z.boolean(),
      revoked: z.boolean(),
      removed: z.optional(z.boolean()),
    }),
  ),
  // Pairs, not objects: a code is whatever a callback stored, `__proto__` included.
  codes: z.array(z.tuple([z.string(), grantIndex])),
  seenCodes: z.array(z.string()),
  // A bare grant index: a file written before access tokens carried their expiry.
  accessTokens: z.array(
    z.tuple([z.string(), z.union([grantIndex, z.object({ grant: grantIndex, expiresAtMs: z.number() })])]),
  ),
  refreshTokens: z.array(
    z.tuple([z.string(), z.object({ grant: grantIndex, expiresAtMs: z.number(), active: z.boolean() })]),
  ),
  latest: z.array(
    z.tuple([
      z.string(),
      z.object({ accessToken: z.string(), refreshToken: z.string(), issuedAt: z.string() }),
    ]),
  ),
});
type State = z.infer<typeof stateSchema>;

export function serializeLedger(ledger: Ledger): string {
  const grants: Grant[] = [];
  const indexes = new Map<Grant, number>();
  const index = (grant: Grant) => {
    let found = indexes.get(grant);
    if (found === undefined) {
      found = grants.push(grant) - 1;
      indexes.set(grant, found);
    }
    return found;
  };
  const codes = [...ledger.codes].map(([code, grant]): [string, number] => [code, index(grant)]);
  const accessTokens = [...ledger.accessTokens].map(
    ([token, { grant, expiresAtMs }]): State['accessTokens'][number] => [
      token,
      { grant: index(grant), expiresAtMs },
    ],
  );
  const refreshTokens = [...ledger.refreshTokens].map(
    ([token, { grant, expiresAtMs, active }]): State['refreshTokens'][number] => [
      token,
      { grant: index(grant), expiresAtMs, active },
    ],
  );
  const state: State = {
    version: 1,
    grants,
    codes,
    seenCodes: [...ledger.seenCodes],
    accessTokens,
    refreshTokens,
    latest: [...ledger.latest],
  };
  return JSON.stringify(state);
}

/** The ledger `text` holds; throws, with a reason that quotes none of it, when it holds none. */
export function parseLedger(text: string): Ledger {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('is not JSON');
  }
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) throw new Error('is not a sandbox state file (version 1)');
  const state = parsed.data;
  const grants: Grant[] = state.grants.map((grant) => ({ ...grant }));
  const grant = (i: number) => {
    const found = grants[i];
    if (!found) throw new Error(`names grant ${i} of ${grants.length}`);
    return found;
  };
  return {
    codes: new Map(state.codes.map(([code, i]) => [code, grant(i)])),
    seenCodes: new Set(state.seenCodes),
    accessTokens: new Map(
      state.accessTokens.map(([token, entry]) =>
        typeof entry === 'number'
          ? [token, { grant: grant(entry), expiresAtMs: legacyExpiry(state, token) }]
          : [token, { grant: grant(entry.grant), expiresAtMs: entry.expiresAtMs }],
      ),
    ),
    refreshTokens: new Map(
      state.refreshTokens.map(([token, entry]) => [token, { ...entry, grant: grant(entry.grant) }]),
    ),
    latest: new Map(state.latest),
  };
}

/**
 * An access token from a file that did not keep its expiry: 2 h after its issue when it is its mall's latest
 * (that issue time is kept), else already expired.
 */
function legacyExpiry(state: State, token: string): number {
  const latest = state.latest.find(([, issued]) => issued.accessToken === token)?.[1];
  const issuedAt = latest ? Date.parse(`${latest.issuedAt}+09:00`) : Number.NaN;
  return Number.isNaN(issuedAt) ? 0 : issuedAt + ACCESS_TOKEN_LIFETIME_MS;
}

/** A missing file is a fresh sandbox; an unreadable one too, said in one line. */
export function readLedger(file: string, log: (line: string) => void): Ledger {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return emptyLedger();
    log(`cafe24 sandbox: its state file ${file} could not be read (${code}); starting fresh`);
    return emptyLedger();
  }
  try {
    return parseLedger(text);
  } catch (error) {
    log(
      `cafe24 sandbox: its state file ${file} ${(error as Error).message}; starting fresh, and the next grant replaces it`,
    );
    return emptyLedger();
  }
}

/**
 * Replaces `file` whole: the new state goes to a temporary file beside it, which is then renamed over it,
 * so a stop mid-write leaves the old state or the new one, never half of each. Owner-only: it holds tokens.
 */
export function writeLedger(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = join(
    dirname(file),
    `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`,
  );
  try {
    writeFileSync(temporary, text, { mode: 0o600 });
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
