/**
 * Hono middleware (any runtime Hono runs on): verifies X-Invoker and sets `c.var.xInvoker`; a
 * refused token gets 401 (503 when the gateway's keys could not be fetched) with problem+json
 * naming the reason. Hono is imported for its types only.
 *
 * @example
 * ```ts
 * import { requireInvoker } from '@invoker-gateway/verifier/hono'
 * app.use(requireInvoker({ jwksUrl, issuer, audience: 'crm' }))
 * app.get('/agents/run', (c) => c.json({ hello: c.var.xInvoker.invoker.id }))
 * ```
 * @module
 */
import type { MiddlewareHandler } from 'hono'
import type { VerifiedInvoker } from './claims.ts'
import { PROBLEM_CONTENT_TYPE, problemOf } from './problem.ts'
import { InvokerVerificationError } from './reasons.ts'
import { createInvokerVerifier, type VerifierOptions } from './verify.ts'

export interface InvokerVariables {
  xInvoker: VerifiedInvoker
}

declare module 'hono' {
  interface ContextVariableMap {
    /** Set by `requireInvoker()` for every request it lets through. */
    xInvoker: VerifiedInvoker
  }
}

export interface HonoInvokerOptions extends VerifierOptions {
  /**
   * The URL to check `htu` against, when `c.req.url` is not the one the gateway forwarded to
   * and a fixed `urlRewrite` does not describe the difference.
   */
  url?: (request: Request) => string
}

export function requireInvoker(options: HonoInvokerOptions): MiddlewareHandler<{ Variables: InvokerVariables }> {
  const { url, ...verifierOptions } = options
  const verifier = createInvokerVerifier(verifierOptions)
  return async function requireInvoker(c, next) {
    const raw = c.req.raw
    try {
      c.set('xInvoker', await verifier.verify(url ? { method: raw.method, url: url(raw), headers: raw.headers } : raw))
    } catch (error) {
      if (!(error instanceof InvokerVerificationError)) throw error
      const problem = problemOf(error)
      return new Response(JSON.stringify(problem), {
        status: problem.status,
        headers: { 'content-type': PROBLEM_CONTENT_TYPE },
      })
    }
    await next()
    return undefined
  }
}
