import { constants } from 'node:fs';
import { access, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { networkInterfaces, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { resolvedDataDir } from '../../local/postgres.ts';

/** The options of `dev` that name things outside the process: ports, an address, a folder. */
export type DevPlaces = {
  pgPort: number;
  sqsPort: number;
  sandboxPort: number;
  installPort: number;
  /** The embedded PostgreSQL's data directory; undefined with an external database. */
  dataDir: string | undefined;
  listen?: string;
};

const LOWEST_UNPRIVILEGED_PORT = 1024;

/**
 * What is wrong with `dev`'s options, one line each, found before anything starts: a server that
 * cannot bind its port, an address that is not this machine's, a data directory that cannot be written
 * (where PostgreSQL would fail late, or Node's mkdir spin forever, as it does under /proc).
 */
export async function devOptionProblems(options: DevPlaces): Promise<string[]> {
  const root = userInfo().uid === 0;
  const problems: string[] = [];
  const ports: Array<[string, number, boolean]> = [
    ...(options.dataDir === undefined
      ? []
      : [['--pg-port', options.pgPort, true] as [string, number, boolean]]),
    ['--sqs-port', options.sqsPort, false],
    ['--sandbox-port', options.sandboxPort, false],
    ['--install-port', options.installPort, false],
  ];
  for (const [flag, port, isPostgres] of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      problems.push(`${flag} ${port} is not a port: give one from ${LOWEST_UNPRIVILEGED_PORT} to 65535`);
    } else if (port < LOWEST_UNPRIVILEGED_PORT && (isPostgres || !root)) {
      problems.push(
        `${flag} ${port} is below ${LOWEST_UNPRIVILEGED_PORT}, where only root may listen` +
          `${isPostgres ? ', and PostgreSQL never runs as root' : ''}: ` +
          `give one from ${LOWEST_UNPRIVILEGED_PORT} to 65535`,
      );
    }
  }
  if (options.listen !== undefined) problems.push(...listenProblems(options.listen));
  if (options.dataDir !== undefined) problems.push(...(await dataDirProblems(options.dataDir)));
  return problems;
}

function listenProblems(listen: string): string[] {
  const shown = /^[\w.:%-]+$/.test(listen) ? listen : `'${listen}'`;
  if (isIP(listen) === 0) {
    return [
      `--listen ${shown} is not an IP address: give one of this machine's, or 0.0.0.0 to listen on all of them`,
    ];
  }
  const own = Object.values(networkInterfaces())
    .flat()
    .map((entry) => entry?.address)
    .filter((address): address is string => address !== undefined);
  const bare = listen.replace(/%.*$/, '');
  if (['0.0.0.0', '::'].includes(bare) || own.includes(bare)) return [];
  return [
    `--listen ${shown} is not an address of this machine (${own.join(', ')}): ` +
      'give one of those, or 0.0.0.0 to listen on all of them',
  ];
}

/**
 * The folder must be one PostgreSQL can keep: a directory we can write (or one we can create), holding a
 * cluster or nothing. As root it may live elsewhere (`resolvedDataDir`); that is the one checked.
 */
async function dataDirProblems(requested: string): Promise<string[]> {
  const target = await resolvedDataDir(requested);
  const named = `--data-dir ${requested}${target === resolve(requested) ? '' : ` (kept at ${target})`}`;
  const fix = 'give a folder you can write, or leave --data-dir out (.local/postgres)';
  const info = await stat(target).catch((error: NodeJS.ErrnoException) => error);
  if (!(info instanceof Error)) {
    if (!info.isDirectory()) return [`${named} is a file, not a folder: ${fix}`];
    const unwritable = await notWritable(target);
    if (unwritable) return [`${named} cannot be written (${unwritable}): ${fix}`];
    const entries: string[] = await readdir(target).catch(() => []);
    if (entries.length > 0 && !entries.includes('PG_VERSION')) {
      return [
        `${named} holds files but no PostgreSQL cluster (no PG_VERSION; an interrupted first start?): ` +
          'empty it, or give another --data-dir',
      ];
    }
    return [];
  }
  if (info.code !== 'ENOENT') return [`${named} cannot be used (${reasonOf(info)}): ${fix}`];
  // Created at start-up under the nearest folder that exists: that one must take a new entry.
  let parent = dirname(target);
  for (;;) {
    const parentInfo = await stat(parent).catch(() => undefined);
    if (parentInfo) {
      if (!parentInfo.isDirectory()) return [`${named} cannot be created: ${parent} is a file: ${fix}`];
      break;
    }
    if (dirname(parent) === parent) break;
    parent = dirname(parent);
  }
  const unwritable = await notWritable(parent);
  return unwritable ? [`${named} cannot be created: ${parent} ${unwritable}: ${fix}`] : [];
}

/** Why a new file cannot be made in `folder`, or undefined. A real file is tried: root passes access(). */
async function notWritable(folder: string): Promise<string | undefined> {
  const denied = await access(folder, constants.W_OK | constants.X_OK).then(
    () => undefined,
    (error: NodeJS.ErrnoException) => error,
  );
  if (denied) return reasonOf(denied);
  const probe = join(folder, `.cafe24-tokens-write-test-${process.pid}`);
  try {
    await writeFile(probe, '', { flag: 'wx' });
  } catch (error) {
    return reasonOf(error as NodeJS.ErrnoException);
  }
  await rm(probe, { force: true });
  return undefined;
}

function reasonOf(error: NodeJS.ErrnoException): string {
  const reasons: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'not permitted',
    EROFS: 'a read-only file system',
    ENOSPC: 'no space left on the device',
    // A virtual file system such as /proc refuses new entries so.
    ENOENT: 'takes no new files',
    ENOTDIR: 'a part of the path is a file',
  };
  const reason = error.code ? reasons[error.code] : undefined;
  return reason ? `${reason}, ${error.code}` : error.message;
}
