/** One queue message; `id` doubles as the batch entry id (a code id, a mall id). */
export type OutboxEntry = { id: string; body: string };
export type PublishResult = { published: string[]; failed: Array<{ id: string; reason: string }> };
/** Sends the entries and says which were accepted. */
export type Publisher = (entries: OutboxEntry[]) => Promise<PublishResult>;
