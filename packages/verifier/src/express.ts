/**
 * Express (4 and 5) and plain `node:http` middleware: verifies X-Invoker and puts the result on
 * `req.xInvoker`; a refused token gets 401 (503 when the gateway's keys could not be fetched)
 * with problem+json naming the reason. Express is not imported: the middleware uses only what
 * Node's request and response objects have.
 *
 * @example
 * ```ts
 * import { requireInvoker } from '@invoker-gateway/verifier/express'
 * app.use(requireInvoker({ jwksUrl, issuer, audience: 'crm' }))
 * app.get('/agents/run', (req, res) => res.json({ hello: req.xInvoker.invoker.id }))
 * ```
 * @module
 */
import type { VerifiedInvoker } from './claims.ts'
import { PROBLEM_CONTENT_TYPE, problemOf } from './problem.ts'
import { InvokerVerificationError } from './reasons.ts'
import { createInvokerVerifier, type VerifierOptions } from './verify.ts'

/** What the middleware reads from a request: Express's, or Node's `IncomingMessage`. */
export interface NodeRequestLike {
  method?: string | undefined
  /** Express's path before routers trimmed it; Node's `url` otherwise. */
  originalUrl?: string
  url?: string | undefined
  /** Express's `req.protocol` (honours `trust proxy`); `http` when absent. */
  protocol?: string
  headers: Readonly<Record<string, string | readonly string[] | undefined>>
  xInvoker?: VerifiedInvoker
}

export interface NodeResponseLike {
  statusCode: number
  setHeader(name: string, value: string): unknown
  end(body: string): unknown
}

export type NextFunction = (error?: unknown) => void

export interface ExpressInvokerOptions extends VerifierOptions {
  /**
   * Called instead of the default 401/503 answer, e.g. to pass the error to Express's error
   * handlers (`(error, req, res, next) => next(error)`).
   */
  onError?: (error: InvokerVerificationError, req: NodeRequestLike, res: NodeResponseLike, next: NextFunction) => void
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `requireInvoker()` for every request it lets through. */
      xInvoker?: VerifiedInvoker
    }
  }
}

/** The absolute URL the request arrived at, from its Host header (the one the gateway sent). */
export function requestUrl(req: NodeRequestLike): string {
  const host = req.headers['host']
  return `${req.protocol ?? 'http'}://${typeof host === 'string' ? host : 'localhost'}${req.originalUrl ?? req.url ?? '/'}`
}

export function requireInvoker(
  options: ExpressInvokerOptions,
): (req: NodeRequestLike, res: NodeResponseLike, next: NextFunction) => void {
  const { onError, ...verifierOptions } = options
  const verifier = createInvokerVerifier(verifierOptions)
  return function requireInvoker(req, res, next) {
    verifier.verify({ method: req.method ?? 'GET', url: requestUrl(req), headers: req.headers }).then(
      (verified) => {
        req.xInvoker = verified
        next()
      },
      (error: unknown) => {
        if (!(error instanceof InvokerVerificationError)) return next(error)
        if (onError) return onError(error, req, res, next)
        const problem = problemOf(error)
        res.statusCode = problem.status
        res.setHeader('content-type', PROBLEM_CONTENT_TYPE)
        res.end(JSON.stringify(problem))
      },
    )
  }
}
