/** The answer the adapters give for a refused token: RFC 9457 problem+json with the reason code. */
import type { InvokerVerificationError } from './reasons.ts'

export interface InvokerProblem {
  type: string
  title: string
  status: number
  reason: string
}

export function problemOf(error: InvokerVerificationError): InvokerProblem {
  return {
    type: `urn:invoker-gateway:verifier:${error.reason}`,
    title: error.message,
    status: error.status,
    reason: error.reason,
  }
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'
