import type { Hono } from 'hono';
import { logger } from '../src/commons/logger.ts';
import { loadConfig } from '../src/config.ts';
import { listen } from '../src/install/node-server.ts';
import { createInstallRuntime, type InstallRuntime } from '../src/runtime/install.ts';

/** Scopes the local install front asks for (the sandbox grants what is asked). */
export const LOCAL_SCOPES = ['mall.read_order', 'mall.read_product', 'mall.read_store'];

export type LocalInstall = {
  origin: string;
  redirectUri: string;
  /** Wires the install front to the stack's environment; until then it answers 503. */
  attach(env: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
};

/**
 * The install front for the local stack. It listens first (port 0 picks one) so that the redirect URI,
 * which the sandbox checks character for character, can name the port; the app is attached afterwards.
 */
export async function startLocalInstall(options: {
  port?: number;
  hostname?: string;
  scopes?: string[];
}): Promise<LocalInstall> {
  const hostname = options.hostname ?? 'localhost';
  let app: Pick<Hono, 'fetch'> | undefined;
  let runtime: InstallRuntime | undefined;
  const listening = await listen(
    { fetch: (request, env) => (app ? app.fetch(request, env) : new Response('starting', { status: 503 })) },
    { port: options.port ?? 3000, host: hostname === 'localhost' ? '127.0.0.1' : hostname },
  );
  const port = listening.port;
  const origin = `http://${hostname}:${port}`;
  return {
    origin,
    redirectUri: `${origin}/cafe24/callback`,
    async attach(env) {
      runtime = createInstallRuntime(
        loadConfig('install', { ...env, CAFE24_SCOPES: (options.scopes ?? LOCAL_SCOPES).join(',') }),
        // The stack's Lambda-style runner gives the shared logger each invocation's context: not this one's.
        { log: logger.createChild({ persistentKeys: { function_name: 'cafe24-install (local)' } }) },
      );
      app = runtime.app;
    },
    async stop() {
      await listening.close();
      await runtime?.close();
    },
  };
}
