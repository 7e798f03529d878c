import { defineConfig } from 'vitest/config';

/**
 * The pipeline's tests once more with tokens sealed under KMS (the local KMS stand-in, TOKEN_KMS_KEY_ID),
 * as a deployment runs (issue 20): test/support/exchange-stack.ts seals when TEST_SEALING=kms. The tests
 * that start the whole local stack (pipeline, drills-restart, stack-restart, npm start) seal by default.
 */
const SEALED = [
  'test/exchange.test.ts',
  'test/refresh.test.ts',
  'test/refresh-handler.test.ts',
  'test/refresh-on-demand.test.ts',
  'test/drills.test.ts',
  'test/lifecycle.test.ts',
  'test/lost-codes.test.ts',
  'test/token-stash.test.ts',
  'test/admin-client.test.ts',
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
