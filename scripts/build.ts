/**
 * Bundles each function of template.yaml the way `sam build` does (BuildMethod esbuild), from the same
 * BuildProperties, into `dist/<name>/<name>.mjs` (+ .map); then checks what went into each bundle.
 *
 * The AWS SDK is bundled, not left to the runtime's copy: the version is the one package-lock.json pins
 * and the tests ran, unused commands are tree-shaken away, and `sam local invoke` runs the same code.
 */
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { type Resource, readTemplate, serverlessFunctions } from './template.ts';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export type BuildOptionsInput = {
  /** Where `<name>/<name>.mjs` go; `dist` by default. */
  outdir?: string;
  /** Logical ids to build; every function of the template by default. */
  only?: string[];
  templatePath?: string;
  log?: (line: string) => void;
};

export type FunctionBundle = {
  logicalId: string;
  /** The entry's base name, which is also the handler's module: `exchange` for `exchange.handler`. */
  name: string;
  outfile: string;
  bytes: number;
  gzipBytes: number;
  mapBytes: number;
  metafile: Metafile;
};

/** What must never be bundled: native addons are built for this machine; the SDK is the runtime's. */
const forbiddenInputs: Record<string, Array<{ pattern: RegExp; what: string; atStartUp?: true }>> = {
  '*': [{ pattern: /\.node$/, what: 'a native addon' }],
  ExchangeFunction: [
    {
      pattern: /(^|node_modules\/)@aws-sdk\/client-sqs(\/|$)/,
      what: 'the SQS client at start-up (the exchange loads it on first use, to requeue a record)',
      atStartUp: true,
    },
  ],
  // The install front never calls Cafe24 server to server: no token client, no HTTP client.
  InstallFunction: [
    {
      pattern: /(^|\/)src\/cafe24\/token-client\.ts$/,
      what: 'the Cafe24 token client (the install exchanges nothing)',
    },
    { pattern: /(^|node_modules\/)undici(\/|$)/, what: 'undici (the install sends no HTTP request)' },
  ],
};

export async function buildFunctions(options: BuildOptionsInput = {}): Promise<FunctionBundle[]> {
  const templatePath = options.templatePath ?? join(projectRoot, 'template.yaml');
  const outdir = resolve(options.outdir ?? join(projectRoot, 'dist'));
  const template = await readTemplate(templatePath);
  const functions = serverlessFunctions(template).filter(
    ([logicalId]) => !options.only || options.only.includes(logicalId),
  );
  const missing = (options.only ?? []).filter((id) => !functions.some(([logicalId]) => logicalId === id));
  if (missing.length > 0) throw new Error(`not functions of ${templatePath}: ${missing.join(', ')}`);

  const bundles: FunctionBundle[] = [];
  for (const [logicalId, resource] of functions) {
    const bundle = await buildFunction(logicalId, resource, dirname(templatePath), outdir);
    bundles.push(bundle);
    options.log?.(describeBundle(bundle));
  }
  return bundles;
}

async function buildFunction(
  logicalId: string,
  resource: Resource,
  templateDir: string,
  outdir: string,
): Promise<FunctionBundle> {
  const metadata = resource.Metadata ?? {};
  if (metadata.BuildMethod !== 'esbuild')
    throw new Error(`${logicalId}: Metadata.BuildMethod must be esbuild`);
  const codeUri = resolve(templateDir, String(resource.Properties?.CodeUri ?? '.'));
  const esbuildOptions = toEsbuildOptions(logicalId, (metadata.BuildProperties ?? {}) as BuildProperties);
  const entryPoints = esbuildOptions.entryPoints as string[];
  if (entryPoints.length !== 1)
    throw new Error(`${logicalId}: one entry point per function, as Handler names one`);
  const entry = entryPoints[0] as string;
  const name = basename(entry, extname(entry));
  const handlerModule = String(resource.Properties?.Handler ?? '').replace(/\.[^.]+$/, '');
  if (handlerModule !== name) {
    throw new Error(
      `${logicalId}: Handler ${String(resource.Properties?.Handler)} does not name the bundle ${name}`,
    );
  }

  await stat(join(codeUri, entry)).catch(() => {
    throw new Error(`${logicalId}: entry point ${entry} does not exist under ${codeUri}`);
  });
  const functionDir = join(outdir, name);
  await rm(functionDir, { recursive: true, force: true });
  await mkdir(functionDir, { recursive: true });
  const result = await build({
    ...esbuildOptions,
    absWorkingDir: codeUri,
    outdir: functionDir,
    metafile: true,
    logLevel: 'warning',
  });

  const extension = esbuildOptions.outExtension?.['.js'] ?? '.js';
  const outfile = join(functionDir, `${name}${extension}`);
  checkBundle(logicalId, result.metafile, esbuildOptions.external ?? []);
  const code = await readFile(outfile);
  const mapBytes = await stat(`${outfile}.map`).then(
    (s) => s.size,
    () => 0,
  );
  return {
    logicalId,
    name,
    outfile,
    bytes: code.length,
    gzipBytes: gzipSync(code).length,
    mapBytes,
    metafile: result.metafile,
  };
}

type BuildProperties = {
  EntryPoints?: string[];
  Format?: 'esm' | 'cjs' | 'iife';
  Minify?: boolean;
  Sourcemap?: boolean;
  Target?: string;
  MainFields?: string;
  External?: string[];
  Loader?: string[];
  OutExtension?: string[];
  Banner?: string[];
};

/** `sam build`'s translation (aws-lambda-builders' nodejs_npm_esbuild), its defaults included. */
function toEsbuildOptions(logicalId: string, properties: BuildProperties): BuildOptions {
  const known = new Set([
    'EntryPoints',
    'Format',
    'Minify',
    'Sourcemap',
    'Target',
    'MainFields',
    'External',
    'Loader',
    'OutExtension',
    'Banner',
  ]);
  const unknown = Object.keys(properties).filter((key) => !known.has(key));
  if (unknown.length > 0)
    throw new Error(`${logicalId}: BuildProperties this build does not translate: ${unknown.join(', ')}`);
  if (!properties.EntryPoints?.length)
    throw new Error(`${logicalId}: BuildProperties.EntryPoints is required`);
  return {
    entryPoints: properties.EntryPoints,
    bundle: true,
    platform: 'node',
    format: properties.Format ?? 'cjs',
    minify: properties.Minify ?? true,
    sourcemap: properties.Sourcemap ?? false,
    target: properties.Target ?? 'es2020',
    ...(properties.MainFields ? { mainFields: properties.MainFields.split(',') } : {}),
    external: properties.External ?? [],
    loader: pairs(properties.Loader) as BuildOptions['loader'],
    outExtension: pairs(properties.OutExtension),
    banner: pairs(properties.Banner),
  };
}

/** `['.js=.mjs']` → `{ '.js': '.mjs' }`; the value may itself hold `=`. */
function pairs(items: string[] = []): Record<string, string> {
  return Object.fromEntries(
    items.map((item) => {
      const at = item.indexOf('=');
      if (at < 1) throw new Error(`expected key=value, got ${item}`);
      return [item.slice(0, at), item.slice(at + 1)];
    }),
  );
}

/** Fails the build on a forbidden input or on an import the Lambda runtime could not resolve. */
function checkBundle(logicalId: string, metafile: Metafile, external: string[]): void {
  const problems: string[] = [];
  const rules = [...(forbiddenInputs['*'] ?? []), ...(forbiddenInputs[logicalId] ?? [])];
  for (const input of Object.keys(metafile.inputs)) {
    for (const rule of rules) {
      if (rule.pattern.test(input)) problems.push(`bundles ${rule.what}: ${input}`);
    }
  }
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) {
      if (!imported.external) continue;
      for (const rule of rules) {
        if (rule.atStartUp && imported.kind === 'dynamic-import') continue;
        if (rule.pattern.test(imported.path)) problems.push(`imports ${rule.what}: ${imported.path}`);
      }
      const declared = external.some((pattern) =>
        new RegExp(`^${pattern.replaceAll('*', '.*')}$`).test(imported.path),
      );
      if (!isBuiltin(imported.path) && !declared) {
        problems.push(`imports ${imported.path} at run time, which Lambda will not have`);
      }
    }
  }
  if (problems.length > 0)
    throw new Error(`${logicalId}: the bundle is not fit to ship:\n  ${problems.join('\n  ')}`);
}

function describeBundle(bundle: FunctionBundle): string {
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  const where = relative(process.cwd(), bundle.outfile);
  return (
    `${bundle.logicalId.padEnd(18)} ${where.padEnd(32)} ${kb(bundle.bytes)} (gzip ${kb(bundle.gzipBytes)}), ` +
    `map ${kb(bundle.mapBytes)}, ${Object.keys(bundle.metafile.inputs).length} inputs`
  );
}

if (import.meta.main) {
  const only = process.argv.slice(2);
  try {
    await buildFunctions({ ...(only.length > 0 ? { only } : {}), log: (line) => console.log(line) });
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
