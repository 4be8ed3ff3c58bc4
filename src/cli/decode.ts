import { decodeJwt, decodeProtectedHeader } from 'jose'
import { verifyInvoker } from '../verifier/verify-invoker.ts'

export async function decodeCommand(
  token: string | undefined,
  options: { jwks?: string; issuer?: string; audience?: string; method: string; url?: string },
): Promise<number> {
  if (!token) throw new Error('decode needs the token (the X-Invoker header value)')
  console.log(JSON.stringify({ header: decodeProtectedHeader(token), claims: decodeJwt(token) }, null, 2))
  if (!options.jwks) return 0
  if (!options.issuer || !options.audience) throw new Error('verifying needs --issuer and --audience')
  const claims = decodeJwt(token)
  const url = options.url ?? String(claims['htu'] ?? '')
  const method = options.url ? options.method : String(claims['htm'] ?? options.method)
  const headers = new Headers({ 'x-invoker': token })
  try {
    await verifyInvoker({ method, url, headers }, { jwksUrl: options.jwks, issuer: options.issuer, audience: options.audience })
    console.log(options.url ? 'verified for this request' : 'verified (signature, issuer, audience, lifetime; request binding taken from the token)')
    return 0
  } catch (error) {
    console.error(`not valid: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}
