import type pg from 'pg';
import type { Log } from '../commons/log.ts';

export type Listener = { close(): Promise<void> };

export type ListenerOptions = {
  connection: pg.ClientConfig;
  /** Runs once LISTEN is in place, after every (re)connect, and on each NOTIFY. */
  onWake: (reason: 'connected' | 'notification') => void;
  log: Log;
  channel?: string;
  maxRetryMs?: number;
};

export type StartListener = (options: ListenerOptions) => Listener;

export const CODES_CHANNEL = 'cafe24_authorization_code';
