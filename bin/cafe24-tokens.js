#!/usr/bin/env node
// The CLI is TypeScript that Node 24 runs as it is. On an older Node (`npx cafe24-tokens` on the
// machine's Node 20, say), hand over to the Node 24 the project installs as its `node` dev dependency.
// Plain JavaScript on purpose: this file must run on any Node that can start it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  await import(main);
} else {
  const node24 = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(node24)) {
    process.stderr.write(
      `cafe24-tokens needs Node.js 24 and this is ${process.version}. Run \`npm install\` in the project ` +
        '(it installs Node 24 as a dev dependency), or run it with Node 24.\n',
    );
    process.exit(2);
  }
  const child = spawn(node24, [main, ...process.argv.slice(2)], { stdio: 'inherit' });
  // Ctrl-C and SIGTERM reach the CLI, which stops cleanly (the relay, npm start).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
