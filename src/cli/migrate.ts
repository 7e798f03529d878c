import { loadConfig } from '../config.ts';
import { clientConfig, migrate } from '../store/migrate.ts';

export async function migrateCommand(): Promise<void> {
  const config = loadMigrateConfig();
  const applied = await migrate(clientConfig(config));
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
}

/** Migrations need only the database settings. */
function loadMigrateConfig() {
  return loadConfig({
    CAFE24_CLIENT_ID: '-',
    CAFE24_CLIENT_SECRET: '-',
    CAFE24_REDIRECT_URI: 'https://-',
    ...process.env,
  }).database;
}
