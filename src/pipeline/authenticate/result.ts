import type { Authentication } from '../../invoker.ts'
import type { Reason } from '../../errors/reasons.ts'

/**
 * What an authenticator answers. "Presented and invalid → 401, never fall back" is then one
 * `switch` in `authenticate/index.ts`, not a convention each authenticator must remember.
 */
export type AuthnResult = { kind: 'ok'; authentication: Authentication } | { kind: 'reject'; reason: Reason }
