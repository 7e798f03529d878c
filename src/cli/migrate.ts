import { loadConfig } from '../config.ts';
import { databaseConnection } from '../runtime/database.ts';
import { enableAwsLambdaRelay, migrate } from '../store/migrate.ts';

export async function migrateCommand(options: {
  awsLambdaFunction?: string;
  awsLambdaRegion?: string;
}): Promise<void> {
  const connection = databaseConnection(loadConfig('migrate'));
  const applied = await migrate(connection);
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
  if (options.awsLambdaFunction) {
    await enableAwsLambdaRelay(connection, {
      functionName: options.awsLambdaFunction,
      region: options.awsLambdaRegion,
    });
    process.stdout.write(
      `INSERT trigger invokes relay Lambda ${options.awsLambdaFunction} through aws_lambda\n`,
    );
  }
}
