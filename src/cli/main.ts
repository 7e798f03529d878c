#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config.ts';
import { exchangeCommand } from './exchange.ts';
import { migrateCommand } from './migrate.ts';

const positiveId = (value: string) => {
  if (!/^[1-9][0-9]{0,18}$/.test(value)) throw new InvalidArgumentError('must be a positive whole number');
  return value;
};

const program = new Command('cafe24-tokens')
  .description('Exchanges Cafe24 OAuth authorization codes for tokens, exactly once, into PostgreSQL.')
  .showHelpAfterError();

program
  .command('migrate')
  .description('apply the SQL migrations in db/migrations (re-running is a no-op)')
  .action(migrateCommand);

program
  .command('exchange')
  .description(
    'exchange one code now: --code-id N, or the newest pending code of --mall (default CAFE24_MALL_ID)',
  )
  .option('--code-id <id>', 'the authorization code row id', positiveId)
  .option('--mall <mall_id>', 'the mall whose newest pending code to exchange')
  .action(exchangeCommand);

try {
  await program.parseAsync();
} catch (error) {
  // Configuration mistakes are the user's to fix: the message says what, without a stack.
  process.stderr.write(
    `${error instanceof ConfigError ? error.message : `error: ${(error as Error).message}`}\n`,
  );
  process.exitCode = error instanceof ConfigError ? 2 : 1;
}
