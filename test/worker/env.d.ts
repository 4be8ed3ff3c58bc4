declare namespace Cloudflare {
  interface Env {
    TEST_SIGNING_KEYS: string
    TEST_BACKEND_ORIGIN: string
    TEST_UPSTASH_URL: string
    TEST_UPSTASH_TOKEN: string
    TEST_OIDC_ISSUER: string
    TEST_STRANGER_ISSUER: string
    TEST_VOLATILE_ISSUER: string
    TEST_BETTER_AUTH_ORIGIN: string
    TEST_SIGNERS_ORIGIN: string
    TEST_TROUBLE_ERROR_ORIGIN: string
    TEST_TROUBLE_HANG_ORIGIN: string
    TEST_PROPERTY_SEED: string
    TEST_FLAKY_ORIGIN: string
    /** wrangler.toml's Analytics Engine dataset, as the local runtime binds it. */
    GATEWAY_METRICS: AnalyticsEngineDataset
    TEST_MCP_ORIGIN: string
    GATEWAY_STORE: DurableObjectNamespace<import('../../src/store/durable-object-class.ts').GatewayStoreObject>
  }
}
