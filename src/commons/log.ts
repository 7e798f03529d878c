type LogFn = (message: string, ...attributes: Record<string, unknown>[]) => void;

/** Structured logging as every layer needs it; the Powertools Logger in production, a fake in tests. */
export type Log = { info: LogFn; warn: LogFn; error: LogFn };
