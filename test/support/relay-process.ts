import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ALIVE_AFTER_STOP = fileURLToPath(new URL('./alive-after-stop.ts', import.meta.url));

export type RelayProcess = {
  child: ChildProcess;
  /** Everything it printed on stdout and stderr so far. */
  output(): string;
  /** Its exit code, or the signal that ended it. */
  exited: Promise<number | NodeJS.Signals | null>;
  /**
   * With `reportAliveAfterStop`: what kept the process alive just after it logged "relay stopped"
   * (`process.getActiveResourcesInfo()`, e.g. `Timeout`); undefined until then.
   */
  aliveAfterStop(): string[] | undefined;
};

/**
 * `node src/cli/main.ts relay` as a child process, with `env` on top of this process's environment;
 * `reportAliveAfterStop` preloads alive-after-stop.ts into it.
 */
export function spawnRelay(
  env: Record<string, string>,
  args: string[] = [],
  options: { reportAliveAfterStop?: boolean } = {},
): RelayProcess {
  const preload = options.reportAliveAfterStop
    ? { NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import=${ALIVE_AFTER_STOP}`].filter(Boolean).join(' ') }
    : {};
  const child = spawn(process.execPath, ['src/cli/main.ts', 'relay', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, ...preload },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk) => (text += chunk));
  child.stderr?.on('data', (chunk) => (text += chunk));
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  const aliveAfterStop = () => {
    const line = text.split('\n').find((entry) => entry.includes('"message":"alive after stop"'));
    return line === undefined ? undefined : (JSON.parse(line) as { resources: string[] }).resources;
  };
  return { child, output: () => text, exited, aliveAfterStop };
}
