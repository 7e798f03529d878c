import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

export type Listening = { port: number; close(): Promise<void> };

/** Serves `app` on Node at host:port (port 0 picks one); resolves once listening. */
export function listen(
  app: Pick<Hono, 'fetch'>,
  options: { port: number; host: string },
): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: options.port, hostname: options.host }, (info) => {
      resolve({
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // Keep-alive browser connections would otherwise hold close() open.
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    });
    server.once('error', reject);
  });
}
