#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { isCodeId, MALL_ID_RULE, mallIdSchema } from '../commons/ids.ts';
import { type Command as ConfigCommand, commands } from '../config.ts';
import { devCommand } from './dev.ts';
import { doctorCommand } from './doctor.ts';
import { encryptCommand } from './encrypt.ts';
import { exchangeCommand } from './exchange.ts';
import { failureExitCode, failureLine, quietLogsFor } from './failure.ts';
import { forgetCommand } from './forget.ts';
import { insertCodeCommand } from './insert-code.ts';
import { launchKeyCommand } from './launch-key.ts';
import { migrateCommand } from './migrate.ts';
import { parseMax, redriveCommand } from './redrive.ts';
import { refreshCommand } from './refresh.ts';
import { relayCommand } from './relay.ts';
import { rotateKeyCommand } from './rotate-key.ts';
import { serveCommand } from './serve.ts';
import { statusCommand } from './status.ts';

const positiveId = (value: string) => {
  if (!isCodeId(value)) throw new InvalidArgumentError('must be a positive whole number within bigint');
  return value;
};

const mallId = (value: string) => {
  const parsed = mallIdSchema.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(MALL_ID_RULE);
  return parsed.data;
};

/** An option's whole number, at least `min`; `what` is the refusal's wording. */
const integerFrom = (min: number, what: string) => (value: string) => {
  const number = Number(value);
  if (!Number.isInteger(number) || number < min) throw new InvalidArgumentError(`must be ${what}`);
  return number;
};
const positiveInteger = integerFrom(1, 'a positive whole number');
const wholeNumber = integerFrom(0, 'a whole number');

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command('cafe24-tokens')
  .version(version)
  .description('Exchanges Cafe24 OAuth authorization codes for tokens, exactly once, into PostgreSQL.')
  .showHelpAfterError()
  .hook('preAction', (_program, action) => quietLogsFor(action.name()));

program
  .command('migrate')
  .description('apply the SQL migrations in db/migrations (re-running is a no-op)')
  .option(
    '--aws-lambda-function <name>',
    'RDS only: also make the INSERT trigger invoke this relay Lambda through aws_lambda.invoke',
  )
  .option('--aws-lambda-region <region>', 'the relay Lambda region, when it differs from the database')
  .action(migrateCommand);

program
  .command('relay')
  .description('publish new codes to SQS: LISTEN, catch up on every (re)connect, sweep periodically')
  .option('--sweep-seconds <n>', 'how often to sweep for codes no NOTIFY announced', positiveInteger, 30)
  .action(relayCommand);

program
  .command('exchange')
  .description(
    'exchange one code now: --code-id N, or the newest pending code of --mall (default CAFE24_MALL_ID)',
  )
  .option('--code-id <id>', 'the authorization code row id', positiveId)
  .option('--mall <mall_id>', 'the mall whose newest pending code to exchange', mallId)
  .option('--json', 'print the summary as JSON (what the Lambda returns for a manual event)')
  .action(exchangeCommand);

program
  .command('encrypt')
  .description(
    'seal every token row still in plaintext with TOKEN_ENCRYPTION_KEY (or TOKEN_KMS_KEY_ID); safe to rerun',
  )
  .option('--batch <n>', 'rows per batch', positiveInteger, 500)
  .option('--max-batches <n>', 'stop after this many batches (run again to go on)', positiveInteger)
  .action(encryptCommand);

program
  .command('rotate-key')
  .description(
    'a new KMS data key: every token row sealed again under it, then the old one deleted; safe to kill and rerun',
  )
  .option('--batch <n>', 'rows per batch', positiveInteger, 500)
  .option('--max-batches <n>', 'stop after this many batches (run again to go on)', positiveInteger)
  .option(
    '--grace-seconds <n>',
    'keep a retired key this long, for running functions to take up the new one (at least 120)',
    wholeNumber,
  )
  .option('--no-wait', 'do not wait out the grace: keep a retired key for a later run to delete')
  .option('--new', 'start a new rotation even while an earlier one left retired keys')
  .option(
    '--no-stash',
    'the deployment has no TOKEN_STASH_BUCKET: delete retired keys without looking into one',
  )
  .action(rotateKeyCommand);

program
  .command('launch-key')
  .description(
    'write a new ES256 key for the launch token (LAUNCH_SIGNING_KEY) to a file; or rotate one in three steps',
  )
  .option('--out <file>', 'where to write it (mode 600, never overwritten)')
  .option('--keep <file>', 'rotation step 1: the current key still signs, a new one is served beside it')
  .option('--promote <file>', 'rotation step 2: the new key of a --keep file signs, the old one is served')
  .option('--drop-retired <file>', 'rotation step 3: the signing key alone')
  .action(launchKeyCommand);

program
  .command('insert-code')
  .description(
    'insert a code as an OAuth callback does (for trying the pipeline: npm start), and print its id, never the code',
  )
  .option('--mall <mall_id>', 'the mall the code is for', mallId)
  .option('--code <code>', 'the code to store (default: a random one)')
  .option('--json', 'print {"codeId", "mallId"} as JSON')
  .action(insertCodeCommand);

program
  .command('forget')
  .description(
    "remove a mall by hand, as Cafe24's app-deleted webhook would: revoke its tokens at Cafe24 (best effort), " +
      'delete its token row and open install states, never exchange its earlier codes, and tell the app (removed)',
  )
  .requiredOption('--mall <mall_id>', 'the mall to remove', mallId)
  .option('--no-revoke', 'do not ask Cafe24 to revoke the tokens first')
  .action(forgetCommand);

program
  .command('refresh')
  .description(
    'refresh --mall M now if due (--force: even if not), or every --due mall; exit 0 when the tokens are valid, ' +
      '1 a mall invalid or missing, 2 configuration error (client credentials or request refused, or misconfigured), 3 transient',
  )
  .option('--mall <mall_id>', 'the mall to refresh', mallId)
  .option('--force', 'refresh --mall even if its access token is not due')
  .option('--due', 'refresh every due mall (status active, expiring within REFRESH_AHEAD_SECONDS)')
  .option('--concurrency <n>', 'malls refreshed at once with --due', positiveInteger, 10)
  .option('--limit <n>', 'at most n due malls, soonest expiry first', positiveInteger, 100_000)
  .option('--emf', 'also print the outcomes as CloudWatch EMF metric lines on stdout')
  .option(
    '--queue',
    'with --due: publish the due malls to REFRESH_QUEUE_URL (once per round, as the schedule does) instead',
  )
  .action(refreshCommand);

program
  .command('redrive')
  .description('move dead-lettered messages from SQS_DLQ_URL back to SQS_QUEUE_URL')
  .option('--dry-run', 'list what is in the DLQ (kind, code id, receive count) and move nothing')
  .option('--max <n>', 'move at most n messages (moves by hand instead of a message move task)', parseMax)
  .action(redriveCommand);

program
  .command('status')
  .description("every mall's token expiry, the codes by status and the latest failures (never a token)")
  .option('--json', 'print the report as JSON')
  .action(statusCommand);

program
  .command('serve')
  .description(
    "the install front: GET /install (Cafe24's app launch), the callback at CAFE24_REDIRECT_URI's path, /healthz",
  )
  .option('--port <n>', 'port to listen on', positiveInteger, 3000)
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .action(serveCommand);

const commandList = (value: string): ConfigCommand[] => {
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(name in commands));
  if (unknown.length > 0)
    throw new InvalidArgumentError(
      `not a command: ${unknown.join(', ')} (one of ${Object.keys(commands).join(', ')})`,
    );
  return names as ConfigCommand[];
};

program
  .command('doctor')
  .description(
    'check configuration (per command), database and migrations, queues, secrets and the route to Cafe24; ' +
      'exit 0 when all pass',
  )
  .option('--json', 'print the report as JSON')
  .option(
    '--for <commands>',
    `check the configuration of these commands only, comma separated (${Object.keys(commands).join(', ')})`,
    commandList,
  )
  .action(doctorCommand);

program
  .command('dev')
  .description(
    'the whole pipeline locally (npm start): PostgreSQL 17, SQS emulator, Cafe24 sandbox, relay, runner',
  )
  .option('--pg-port <port>', 'embedded PostgreSQL port', positiveInteger, 54320)
  .option('--sqs-port <port>', 'SQS emulator port', positiveInteger, 4566)
  .option('--sandbox-port <port>', 'Cafe24 sandbox port', positiveInteger, 8787)
  .option('--kms-port <port>', 'local KMS port (env.json: sam local invoke)', positiveInteger, 4599)
  .option('--install-port <port>', 'install front port (the redirect URI names it)', positiveInteger, 3000)
  .option('--data-dir <dir>', 'where the embedded PostgreSQL keeps its data (default .local/postgres)')
  .option(
    '--listen <address>',
    'also listen on this address, e.g. 0.0.0.0 for sam local invoke (default: this machine only)',
  )
  .option('--refresh-seconds <n>', 'how often the refresh schedule publishes due malls', positiveInteger, 30)
  .action(devCommand);

try {
  await program.parseAsync();
} catch (error) {
  const command = program.args[0];
  process.stderr.write(`${failureLine(error, command ? `cafe24-tokens ${command}` : undefined)}\n`);
  process.exitCode = failureExitCode(error);
}
