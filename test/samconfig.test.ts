/**
 * samconfig.toml.example: the one file a first deploy fills in. Every parameter the template requires
 * (no default) is there, every parameter it names exists, and it deploys to Seoul.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { readTemplate } from '../scripts/template.ts';

const text = readFileSync(new URL('../samconfig.toml.example', import.meta.url), 'utf8');
/** `"Name=…"` entries, set or commented out. */
const named = (commented: boolean) =>
  [...text.matchAll(/^\s*(#\s*)?"([A-Za-z0-9]+)=/gm)]
    .filter((m) => Boolean(m[1]) === commented)
    .map((m) => m[2]!);

it('sets every required parameter, names only parameters the template has, and deploys to Seoul', async () => {
  const parameters = (await readTemplate('template.yaml')).Parameters ?? {};
  const required = Object.entries(parameters)
    .filter(([, parameter]) => !('Default' in parameter))
    .map(([name]) => name);
  expect(required.length).toBeGreaterThan(5);
  expect(required.filter((name) => !named(false).includes(name))).toEqual([]);
  for (const name of [...named(false), ...named(true)]) expect(Object.keys(parameters), name).toContain(name);
  expect(text).toMatch(/^region = "ap-northeast-2"/m);
  expect(text).toMatch(/^capabilities = "CAPABILITY_IAM"/m);
});
