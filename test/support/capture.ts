import { afterAll, beforeAll } from 'vitest';

/**
 * Everything written to stdout and stderr while the calling test file runs (the JSON logs go there).
 * Kept for the test's assertions, not echoed, so a run's output stays readable; `SHOW_LOGS=1` echoes it.
 */
export function captureOutput(): { text(): string } {
  const chunks: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write.bind(stream));
  beforeAll(() => {
    streams.forEach((stream, index) => {
      stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        if (process.env.SHOW_LOGS === '1')
          return (originals[index] as (...args: unknown[]) => boolean)(chunk, ...rest);
        const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
        callback?.();
        return true;
      }) as typeof stream.write;
    });
  });
  afterAll(() => {
    streams.forEach((stream, index) => {
      stream.write = originals[index] as typeof stream.write;
    });
  });
  return { text: () => chunks.join('') };
}
