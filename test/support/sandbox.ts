import { type Cafe24Sandbox, type SandboxOptions, startCafe24Sandbox } from '../../local/cafe24-sandbox.ts';

/** The app the sandbox's own tests register. */
export const CLIENT_ID = 'sandbox-client';
export const CLIENT_SECRET = 'sandbox-secret';
export const REDIRECT_URI = 'https://app.example.com/cafe24/callback';

/** The `Authorization` header of the token endpoint for `clientId`:`secret`. */
export const basicAuth = (clientId = CLIENT_ID, secret = CLIENT_SECRET) =>
  `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;

/**
 * One sandbox at a time for the test app: `start` stops the one before and starts another with
 * `defaults()` (read at each start) and then `extra`; `current` is the last one started.
 */
export function sandboxRunner(defaults: () => Partial<SandboxOptions> = () => ({})) {
  let running: Cafe24Sandbox | undefined;
  return {
    async start(extra: Partial<SandboxOptions> = {}): Promise<Cafe24Sandbox> {
      await running?.stop();
      running = await startCafe24Sandbox({
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUri: REDIRECT_URI,
        ...defaults(),
        ...extra,
      });
      return running;
    },
    async stop(): Promise<void> {
      await running?.stop();
      running = undefined;
    },
    get current(): Cafe24Sandbox {
      if (!running) throw new Error('no sandbox started');
      return running;
    },
  };
}
