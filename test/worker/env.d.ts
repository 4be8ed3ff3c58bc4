declare namespace Cloudflare {
  interface Env {
    TEST_SIGNING_KEYS: string
    TEST_BACKEND_ORIGIN: string
  }
}
