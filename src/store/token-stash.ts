import type { TokenSet } from '../cafe24/token-response.ts';
import type { TokenStash } from '../domain/ports.ts';

/**
 * Issued tokens the database could not take yet, held in this process (a warm Lambda container keeps
 * them between invocations). Every invocation first tries to store what is here.
 */
export class MemoryTokenStash implements TokenStash {
  readonly #entries = new Map<string, { mallId: string; tokens: TokenSet }>();

  async put(codeId: string, mallId: string, tokens: TokenSet): Promise<void> {
    this.#entries.set(codeId, { mallId, tokens });
  }

  async take(codeId: string): Promise<{ mallId: string; tokens: TokenSet } | undefined> {
    const entry = this.#entries.get(codeId);
    this.#entries.delete(codeId);
    return entry;
  }

  async codeIds(): Promise<string[]> {
    return [...this.#entries.keys()];
  }
}
