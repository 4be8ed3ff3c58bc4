/** verifyInvoker(): what a backend relies on. Run in Node, as a backend would. */
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { verifyInvoker, type InvokerErrorCode } from '../../src/verifier/verify-invoker.ts'

let signingKey: CryptoKey
let otherKey: CryptoKey
let keys: ReturnType<typeof createLocalJWKSet>

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  signingKey = pair.privateKey
  otherKey = (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA' }
  keys = createLocalJWKSet({ keys: [jwk] })
})

const URL_ = 'http://backend.internal/agents/run'
const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => {
  const now = Math.floor(Date.now() / 1000)
  return {
    iss: 'https://gw',
    aud: 'crm',
    sub: 'apikey:ci',
    iat: now,
    exp: now + 60,
    jti: 'req-1',
    invoker: { id: 'apikey:ci', kind: 'apiKey', meta: {} },
    auth: { method: 'api_key' },
    htm: 'POST',
    htu: URL_,
    ...over,
  }
}

async function token(over: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: CryptoKey = signingKey): Promise<string> {
  return new SignJWT(claims(over)).setProtectedHeader({ alg: 'EdDSA', kid: 'k1', typ: 'invoker+jwt', ...header }).sign(key)
}

function request(value: string | null, method = 'POST', url = `${URL_}?q=1`): Request {
  const headers = new Headers()
  if (value !== null) headers.set('x-invoker', value)
  return new Request(url, { method, headers })
}

const options = { keys: () => Promise.resolve({} as CryptoKey), issuer: 'https://gw', audience: 'crm' }

async function failure(req: Request, extra: Record<string, unknown> = {}): Promise<InvokerErrorCode | 'none'> {
  try {
    await verifyInvoker(req, { ...options, keys, ...extra })
    return 'none'
  } catch (error) {
    return (error as { code: InvokerErrorCode }).code
  }
}

describe('verifyInvoker', () => {
  it('returns the invoker of a valid token bound to this request', async () => {
    const result = await verifyInvoker(request(await token()), { ...options, keys })
    expect(result.invoker).toEqual({ id: 'apikey:ci', kind: 'apiKey', meta: {} })
    expect(result.auth.method).toBe('api_key')
  })

  it.each([
    ['no header', async () => request(null), 'missing'],
    ['another signer', async () => request(await token({}, {}, otherKey)), 'invalid'],
    ['another audience', async () => request(await token({ aud: 'echo' })), 'invalid'],
    ['another issuer', async () => request(await token({ iss: 'https://evil' })), 'invalid'],
    ['an expired token', async () => request(await token({ exp: Math.floor(Date.now() / 1000) - 60 })), 'expired'],
    ['another typ', async () => request(await token({}, { typ: 'JWT' })), 'invalid'],
    ['another method', async () => request(await token(), 'GET'), 'wrong_request'],
    ['another URL', async () => request(await token(), 'POST', 'http://backend.internal/agents/other'), 'wrong_request'],
    ['no htu', async () => request(await token({ htu: undefined })), 'invalid'],
    ['sub that is not the invoker', async () => request(await token({ sub: 'someone-else' })), 'invalid'],
    ['alg none', async () => request(`${btoa(JSON.stringify({ alg: 'none', typ: 'invoker+jwt' }))}.${btoa(JSON.stringify(claims()))}.`), 'invalid'],
    ['garbage', async () => request('not.a.token'), 'invalid'],
  ])('refuses %s', async (_, make, code) => {
    expect(await failure(await make())).toBe(code)
  })

  it('compares htu with expectedUrl when a proxy rewrote the URL', async () => {
    const req = request(await token(), 'POST', 'http://lb.example/agents/run')
    expect(await failure(req)).toBe('wrong_request')
    expect(await failure(req, { expectedUrl: URL_ })).toBe('none')
  })
})
