/**
 * The tests' headless Chromium (from npm: @sparticuz/chromium, driven by puppeteer-core), with Hangul.
 *
 * That Chromium ships one font, Open Sans (Latin, Greek, Cyrillic), so Korean would render as empty
 * boxes. Noto Sans KR comes from the npm package @expo-google-fonts/noto-sans-kr (plain TTF files, which
 * fontconfig reads as they are; no system package, no network). The browser is started with a fontconfig
 * file of our own (FONTCONFIG_FILE) that lists only these fonts, so a page renders the same on a machine
 * with no fonts at all as on one with many: the machine's /etc/fonts is not read. Its cache lives beside
 * it in the temp folder, so only the first launch on a machine scans the fonts.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import chromium from '@sparticuz/chromium';
import puppeteer, { type Browser } from 'puppeteer-core';

export type BrowserOptions = { width?: number; height?: number };

/** The family name pages ask for, and fontconfig's answer for `sans-serif`. */
export const HANGUL_FONT = 'Noto Sans KR';

const require = createRequire(import.meta.url);

/** The folders holding the TTF files the pages use (regular text, and bold for titles). */
function notoSansKrFolders(): string[] {
  const root = dirname(require.resolve('@expo-google-fonts/noto-sans-kr/package.json'));
  return ['400Regular', '700Bold'].map((weight) => join(root, weight));
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Writes the fontconfig file (atomically: test files may launch browsers at the same time) and returns
 * its path. Open Sans is where @sparticuz/chromium unpacks it (`<tmp>/fonts`, absent until its first
 * `executablePath()`; fontconfig skips a missing folder).
 */
async function fontConfig(): Promise<string> {
  const folder = join(tmpdir(), 'cafe24-token-issuer-fonts');
  await mkdir(folder, { recursive: true });
  const dirs = [...notoSansKrFolders(), join(tmpdir(), 'fonts', 'fonts')];
  const generic = (family: string) =>
    `  <alias><family>${family}</family><prefer><family>${HANGUL_FONT}</family></prefer></alias>`;
  const xml = [
    '<?xml version="1.0"?>',
    '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">',
    '<fontconfig>',
    ...dirs.map((dir) => `  <dir>${escapeXml(dir)}</dir>`),
    `  <cachedir>${escapeXml(join(folder, 'cache'))}</cachedir>`,
    ...['sans-serif', 'serif', 'monospace', 'system-ui'].map(generic),
    '</fontconfig>',
    '',
  ].join('\n');
  const file = join(folder, 'fonts.conf');
  const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(temporary, xml);
  await rename(temporary, file);
  return file;
}

/** Launches the headless Chromium with Noto Sans KR available (and nothing from the machine's fonts). */
export async function launchBrowser(options: BrowserOptions = {}): Promise<Browser> {
  const [executablePath, config] = await Promise.all([chromium.executablePath(), fontConfig()]);
  return puppeteer.launch({
    executablePath,
    args: chromium.args,
    headless: true,
    defaultViewport: { width: options.width ?? 880, height: options.height ?? 620 },
    env: { ...process.env, FONTCONFIG_FILE: config, FONTCONFIG_PATH: dirname(config) },
  });
}
