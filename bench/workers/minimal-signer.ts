/**
 * A reference row, not a product: the least any API-key gateway that signs an X-Invoker token
 * must do per request, written as directly as possible. It hashes the presented key (no lookup),
 * copies the request headers without it, signs a short EdDSA token bound to the request with
 * jose, bounds the wait for the backend with a timer, echoes a request id and writes one log
 * line. No routing, policy, error handling or rate limits.
 *
 * Its distance from the bare Worker is the cost of that unavoidable work on this machine; the
 * gateway's distance from it is what the gateway's own structure costs.
 */
import { CompactSign } from 'jose'

interface Env {
  BACKEND: string
}

const encoder = new TextEncoder()
let signingKey: Promise<CryptoKey> | null = null

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    signingKey ??= crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign']).then((pair) => (pair as CryptoKeyPair).privateKey)
    const url = new URL(request.url)
    const requestId = crypto.randomUUID()
    const keyDigest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(request.headers.get('x-api-key') ?? '')))
    const headers = new Headers(request.headers)
    headers.delete('x-api-key')
    const now = Math.floor(Date.now() / 1000)
    const claims = { iss: 'https://gateway.bench', aud: 'keyed', sub: `apikey:${keyDigest[0]}`, iat: now, exp: now + 60, jti: requestId, htm: request.method, htu: env.BACKEND + url.pathname }
    headers.set('x-invoker', await new CompactSign(encoder.encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'EdDSA', kid: 'bench', typ: 'invoker+jwt' }).sign(await signingKey))
    headers.set('x-request-id', requestId)
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), 30_000)
    const upstream = await fetch(env.BACKEND + url.pathname + url.search, { method: request.method, headers, body: request.body, signal: controller.signal, redirect: 'manual' })
    clearTimeout(timer)
    const response = new Response(upstream.body, upstream)
    response.headers.set('x-request-id', requestId)
    console.log(JSON.stringify({ request_id: requestId, method: request.method, path: url.pathname, invoker_id: claims.sub, status: response.status }))
    return response
  },
}
