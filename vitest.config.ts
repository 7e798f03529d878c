import { defineConfig } from 'vitest/config';

/**
 * The pipeline's tests once more with tokens sealed under KMS (the local KMS stand-in, TOKEN_KMS_KEY_ID),
 * as a deployment runs (issue 20): test/support/exchange-stack.ts seals when TEST_SEALING=kms. The tests
 * that start the whole local stack (pipeline, drills-restart, stack-restart, database roles, npm start)
 * seal by default. The CLI's refresh (test/refresh.test.ts) runs the same store and codec as these.
 */
const SEALED = [
  'test/exchange.test.ts',
  'test/refresh-handler.test.ts',
  'test/refresh-on-demand.test.ts',
  'test/drills.test.ts',
  'test/lifecycle.test.ts',
  'test/lost-codes.test.ts',
  'test/token-stash.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'plaintext', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'sealed', include: SEALED, env: { TEST_SEALING: 'kms' } } },
    ],
  },
});
