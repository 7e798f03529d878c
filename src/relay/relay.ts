import { startListener } from './listener.ts';
import { type Relay, type RelayOptions, startRelayWith } from './relay-core.ts';

export { RELAY_CONCURRENCY, type Relay, type RelayOptions } from './relay-core.ts';

/**
 * The long-running relay (`cafe24-tokens relay`, the local stack): LISTEN through pg-listen, which
 * survives a Postgres restart. The Lambda uses `startRelayWith` and a plain session (session-listener.ts):
 * pg-listen cannot be bundled (pg-format requires a file by a computed path), and a run lives 65 s.
 */
export function startRelay(options: Omit<RelayOptions, 'listen'>): Relay {
  return startRelayWith({ ...options, listen: startListener });
}
