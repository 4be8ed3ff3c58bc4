import type { Authentication } from '../../invoker.ts'
import type { Reason } from '../../errors/reasons.ts'
import type { ExpectedDigest } from './envelope/expected-digest.ts'

/**
 * What an authenticator answers. "Presented and invalid → 401, never fall back" is then one
 * `switch` in `authenticate/index.ts`, not a convention each authenticator must remember.
 */
export type AuthnResult =
  | {
      kind: 'ok'
      authentication: Authentication
      /** Signed requests: the Content-Digest the body must match as it streams. */
      expectedDigest?: ExpectedDigest | null
    }
  | {
      kind: 'reject'
      reason: Reason
      /**
       * Set when the caller was authenticated but is refused for an authorization reason (a
       * token without the pack's scopes): report mode forwards it as this invoker.
       */
      authentication?: Authentication
    }
