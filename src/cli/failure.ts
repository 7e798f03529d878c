import { describeError } from '../commons/errors.ts';
import { logger } from '../commons/logger.ts';
import { ConfigError } from '../config.ts';

/** Exit statuses of a command that threw: a configuration the user must fix, or anything else. */
export const FAILURE_EXIT = { configuration: 2, failed: 1 } as const;

/**
 * The line a failed command ends with, whatever was thrown: a library may reject with `undefined`, a
 * string or a bare object, and the person still learns that the command failed and what is known.
 */
export function failureLine(error: unknown, command = 'the command'): string {
  // Configuration mistakes are the user's to fix: the message says what, without a stack.
  if (error instanceof ConfigError) return error.message;
  if (error instanceof Error && error.message.trim() !== '') return `error: ${describeError(error)}`;
  const said = reasonOf(error);
  return said === undefined
    ? `error: ${command} failed, and what failed gave no reason (it threw ${typeName(error)}); ` +
        'POWERTOOLS_LOG_LEVEL=DEBUG shows the log lines before it'
    : `error: ${command} failed: ${said}`;
}

export function failureExitCode(error: unknown): number {
  return error instanceof ConfigError ? FAILURE_EXIT.configuration : FAILURE_EXIT.failed;
}

function reasonOf(error: unknown): string | undefined {
  if (typeof error === 'string') return error.trim() || undefined;
  if (typeof error === 'number' || typeof error === 'boolean' || typeof error === 'bigint')
    return String(error);
  if (typeof error === 'object' && error !== null) {
    const { message, code } = error as { message?: unknown; code?: unknown };
    if (typeof message === 'string' && message.trim() !== '') return message;
    if (typeof code === 'string' && code.trim() !== '') return code;
  }
  return undefined;
}

function typeName(error: unknown): string {
  if (error === null || error === undefined) return String(error);
  if (error === '') return 'an empty string';
  if (error instanceof Error) return `${error.name} with no message`;
  if (typeof error === 'object') return `an object (${error.constructor?.name ?? 'no prototype'})`;
  return typeof error;
}

/** Commands whose log lines are their output (long-running services, shipped to a log store as JSON). */
const SERVICE_COMMANDS: ReadonlySet<string> = new Set(['relay', 'serve']);

/**
 * The other commands print text for people on stdout, where the logger's INFO lines would mix in: they
 * log warnings and errors only (to stderr), unless the environment asks for a level.
 */
export function quietLogsFor(command: string, env: NodeJS.ProcessEnv = process.env): void {
  if (SERVICE_COMMANDS.has(command)) return;
  const asked = ['POWERTOOLS_LOG_LEVEL', 'LOG_LEVEL', 'AWS_LAMBDA_LOG_LEVEL'].some((name) =>
    env[name]?.trim(),
  );
  if (!asked) logger.setLogLevel('WARN');
}
