import { decodeJwt, decodeProtectedHeader } from 'jose'
import { InvokerVerificationError, verifyInvoker } from '../../packages/verifier/src/index.ts'

/**
 * `decode TOKEN [--jwks URL --issuer I --audience A] [--method M --url U]`: prints the header and
 * claims; with `--jwks`, verifies the token with the verifier package backends use and, when it
 * is refused, prints the same reason code a backend gets (`expired`, `audience`, …).
 */
export async function decodeCommand(
  token: string | undefined,
  options: { jwks?: string; issuer?: string; audience?: string; method: string; url?: string },
): Promise<number> {
  if (!token) throw new Error('decode needs the token (the X-Invoker header value)')
  try {
    console.log(JSON.stringify({ header: decodeProtectedHeader(token), claims: decodeJwt(token) }, null, 2))
  } catch {
    console.error('not valid (reason: malformed): the token cannot be decoded')
    return 1
  }
  if (!options.jwks) return 0
  if (!options.issuer || !options.audience) throw new Error('verifying needs --issuer and --audience')
  const claims = decodeJwt(token)
  const url = options.url ?? String(claims['htu'] ?? '')
  const method = options.url ? options.method : String(claims['htm'] ?? options.method)
  const headers = new Headers({ 'x-invoker': token })
  try {
    await verifyInvoker(
      { method, url, headers },
      { jwksUrl: options.jwks, issuer: options.issuer, audience: options.audience },
    )
    console.log(
      options.url
        ? 'verified for this request'
        : 'verified (signature, issuer, audience, lifetime; request binding taken from the token)',
    )
    return 0
  } catch (error) {
    if (error instanceof InvokerVerificationError)
      console.error(`not valid (reason: ${error.reason}): ${error.message}`)
    else console.error(`not valid: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}
