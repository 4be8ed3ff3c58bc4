import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    silent: 'passed-only',
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                TEST_SIGNING_KEYS: inject('signingKeys'),
                TEST_BACKEND_ORIGIN: inject('backendOrigin'),
                TEST_UPSTASH_URL: inject('upstashUrl'),
                TEST_UPSTASH_TOKEN: inject('upstashToken'),
                TEST_OIDC_ISSUER: inject('oidcIssuer'),
                TEST_STRANGER_ISSUER: inject('strangerIssuer'),
                TEST_VOLATILE_ISSUER: inject('volatileIssuer'),
                TEST_BETTER_AUTH_ORIGIN: inject('betterAuthOrigin'),
                TEST_SIGNERS_ORIGIN: inject('signersOrigin'),
                TEST_TROUBLE_ERROR_ORIGIN: inject('troubleErrorOrigin'),
                TEST_TROUBLE_HANG_ORIGIN: inject('troubleHangOrigin'),
                TEST_FLAKY_ORIGIN: inject('flakyOrigin'),
                // Another seed for the property tests (test/worker/properties/), to explore beyond CI's.
                TEST_PROPERTY_SEED: process.env['PROPERTY_SEED'] ?? '',
                TEST_MCP_ORIGIN: inject('mcpOrigin'),
              },
            },
          })),
        ],
        test: {
          name: 'workerd',
          include: ['src/**/*.test.ts', 'test/worker/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/node/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
