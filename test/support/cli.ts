import { type ChildProcessByStdio, execFile, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The project's root: where `src/cli/main.ts` is found. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const run = promisify(execFile);

export type CliResult = { code: number; stdout: string; stderr: string };

/**
 * `node src/cli/main.ts …args` in the project's root with `env` as its whole environment (PATH added
 * first, so `env` may override it). Resolves on any exit: `code` 0, or the exit code it failed with.
 */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return run(process.execPath, ['src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: CliResult) => error,
  );
}

export type NodeProcess = {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Everything it printed on stdout and stderr so far, interleaved as it came. */
  output(): string;
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Its exit code once it exited; undefined while it runs. */
  exitCode(): number | null | undefined;
};

/** `node …args` started in the project's root with `env` as its whole environment, its output collected. */
export function startNode(args: string[], env: NodeJS.ProcessEnv): NodeProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let code: number | null | undefined;
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (status) => {
      code = status;
      resolve(status);
    }),
  );
  return { child, exited, output: () => output, exitCode: () => code };
}
