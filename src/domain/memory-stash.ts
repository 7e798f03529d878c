import type { StashEntry, StashGrant, TokenStash } from './ports.ts';

/**
 * Issued tokens the database could not take yet, held in this process (a warm Lambda container keeps
 * them between invocations). Every invocation first tries to store what is here.
 */
export class MemoryTokenStash implements TokenStash {
  readonly #entries = new Map<string, StashEntry>();

  async put(entry: StashEntry): Promise<void> {
    this.#entries.set(entryKey(entry.grant, entry.key), entry);
  }

  async take(grant: StashGrant, key: string): Promise<StashEntry | undefined> {
    const id = entryKey(grant, key);
    const entry = this.#entries.get(id);
    this.#entries.delete(id);
    return entry;
  }

  async entries(): Promise<Array<{ grant: StashGrant; key: string }>> {
    return [...this.#entries.values()].map(({ grant, key }) => ({ grant, key }));
  }

  /** Memory only: nothing here outlives the process. */
  async durable(): Promise<boolean> {
    return false;
  }
}

/** `<grant>/<key>`: also the S3 object name under `stash/`. */
export function entryKey(grant: StashGrant, key: string): string {
  return `${grant}/${key}`;
}
