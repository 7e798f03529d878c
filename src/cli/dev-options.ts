import { constants } from 'node:fs';
import { access, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { resolvedDataDir } from '../../local/postgres.ts';

/** The options of `dev` that name things outside the process: ports, an address, a folder. */
export type DevPlaces = {
  pgPort: number;
  sqsPort: number;
  sandboxPort: number;
  installPort: number;
  kmsPort?: number;
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
  const problems: string[] = [];
  const ports: Array<[string, number]> = [
    ...(options.dataDir === undefined ? [] : [['--pg-port', options.pgPort] as [string, number]]),
    ['--sqs-port', options.sqsPort],
    ['--sandbox-port', options.sandboxPort],
    ['--install-port', options.installPort],
    ...(options.kmsPort === undefined ? [] : [['--kms-port', options.kmsPort] as [string, number]]),
  ];
  const range = `give one from ${LOWEST_UNPRIVILEGED_PORT} to 65535`;
  for (const [flag, port] of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      problems.push(`${flag} ${port} is not a port: ${range}`);
    } else if (port < LOWEST_UNPRIVILEGED_PORT) {
      // The local stack needs no privileged port, and its PostgreSQL could not take one.
      problems.push(
        `${flag} ${port} is below ${LOWEST_UNPRIVILEGED_PORT}, where only root may listen` +
          `${flag === '--pg-port' ? ', and PostgreSQL never runs as root' : ''}: ${range}`,
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
 * cluster or nothing. As root it may be kept elsewhere (`resolvedDataDir`): that place is the one
 * written, and the path given must still be one a folder could be at.
 */
async function dataDirProblems(requested: string): Promise<string[]> {
  const fix = 'give a folder you can write, or leave --data-dir out (.local/postgres)';
  const given = resolve(requested);
  const inTheWay = await nearestExisting(given);
  if (!(await stat(inTheWay)).isDirectory()) {
    return [
      `--data-dir ${requested} ${inTheWay === given ? 'is a file, not a folder' : `cannot be a folder: ${inTheWay} is a file`}: ${fix}`,
    ];
  }
  const target = await resolvedDataDir(requested);
  const named = `--data-dir ${requested}${target === given ? '' : ` (kept at ${target})`}`;
  const info = await stat(target).catch((error: NodeJS.ErrnoException) => error);
  if (info instanceof Error && info.code !== 'ENOENT') {
    return [`${named} cannot be used (${reasonOf(info)}): ${fix}`];
  }
  if (!(info instanceof Error)) {
    if (!info.isDirectory()) return [`${named} is a file, not a folder: ${fix}`];
    const refused = await refusesNewFiles(target);
    if (refused) return [`${named} refuses new files (${refused}): ${fix}`];
    const entries: string[] = await readdir(target).catch(() => []);
    if (entries.length > 0 && !entries.includes('PG_VERSION')) {
      return [
        `${named} holds files but no PostgreSQL cluster (no PG_VERSION; an interrupted first start?): ` +
          'empty it, or give another --data-dir',
      ];
    }
    return [];
  }
  // Created at start-up under the nearest folder that exists: that one must take a new entry.
  const parent = await nearestExisting(dirname(target));
  if (!(await stat(parent)).isDirectory()) return [`${named} cannot be created: ${parent} is a file: ${fix}`];
  const refused = await refusesNewFiles(parent);
  return refused ? [`${named} cannot be created: ${parent} refuses new files (${refused}): ${fix}`] : [];
}

/** `path` itself, or the nearest folder above it that exists. */
async function nearestExisting(path: string): Promise<string> {
  let current = path;
  while (dirname(current) !== current && (await stat(current).catch(() => undefined)) === undefined) {
    current = dirname(current);
  }
  return current;
}

/** Why a new file cannot be made in `folder`, or undefined. A real file is tried: root passes access(). */
async function refusesNewFiles(folder: string): Promise<string | undefined> {
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
    ENOENT: 'a virtual file system',
    ENOTDIR: 'a part of the path is a file',
  };
  const reason = error.code ? reasons[error.code] : undefined;
  return reason ? `${reason}, ${error.code}` : error.message;
}
