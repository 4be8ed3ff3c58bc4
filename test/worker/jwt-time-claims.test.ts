/**
 * Red team pass 9, F7: jose raises the same claim name for an `iat` (or `nbf`) that fails its
 * time check and for one that is missing (`iat` under a `max_token_age`) or is no number. Only
 * the first is a token that is "not valid yet"; the others are malformed claim sets, refused with
 * the generic text and logged as `claims`. The issuer's keys are inline; the tokens are signed
 * here, their claim sets written byte for byte (jose's SignJWT would not write a string `iat`).
 */
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { gateway, type Gateway } from './harness.ts'

const ISS = 'https://time-claims.test'
const AUD = 'https://agents.test'

let privateKey: CryptoKey
let publicJwk: JWK
let gw: Gateway

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true })
  privateKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 't1', alg: 'ES256' }
  gw = gateway(
    { timed: 'pack: timed\nupstream: $BACKEND\nmatch: { path_prefix: /timed }\nauth: [bearer]\n' },
    `issuer: https://gateway.test\napi_keys: {}\nissuers:\n  idp:\n    issuer: ${ISS}\n    jwks: { keys: [${JSON.stringify(publicJwk)}] }\n    audience: ${AUD}\n    algorithms: [ES256]\n    clock_tolerance: 0s\n    max_token_age: 1h\n`,
  )
})

const now = (): number => Math.floor(Date.now() / 1000)

function token(claims: Record<string, unknown>): Promise<string> {
  const payload = { iss: ISS, aud: AUD, sub: 'svc-time', exp: now() + 600, iat: now(), ...claims }
  for (const [name, value] of Object.entries(payload))
    if (value === undefined) delete payload[name as keyof typeof payload]
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', kid: 't1' })
    .sign(privateKey)
}

/** The 401's detail and the `problem` its log line names. */
async function refusal(claims: Record<string, unknown>): Promise<{ status: number; detail: string; problem: unknown }> {
  const lines: string[] = []
  const spy = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
  const response = await gw.fetch('/timed/run', { headers: { authorization: `Bearer ${await token(claims)}` } })
  spy.mockRestore()
  const logged = lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
  const body = response.status === 200 ? { detail: '' } : ((await response.json()) as { detail: string })
  return { status: response.status, detail: body.detail, problem: logged.at(-1)?.['problem'] }
}

const MALFORMED = { status: 401, detail: 'The token is not valid for this pack.', problem: 'claims' }
const EARLY = { status: 401, detail: 'The token is not valid yet.' }

describe('a time claim that is missing or no number is a malformed token, not an early one', () => {
  it('control: a valid token passes', async () => {
    expect((await refusal({})).status).toBe(200)
  })

  it('iat missing (required by max_token_age)', async () => {
    expect(await refusal({ iat: undefined })).toEqual(MALFORMED)
  })

  it.each([
    ['a string', 'yesterday'],
    ['null', null],
    ['an object', { at: 1 }],
  ])('iat that is %s', async (_, iat) => {
    expect(await refusal({ iat })).toEqual(MALFORMED)
  })

  it.each([
    ['a string', 'tomorrow'],
    ['null', null],
  ])('nbf that is %s', async (_, nbf) => {
    expect(await refusal({ nbf })).toEqual(MALFORMED)
  })

  it('control: iat an hour ahead, nbf an hour ahead: not valid yet', async () => {
    expect(await refusal({ iat: now() + 3_600, exp: now() + 7_200 })).toEqual({ ...EARLY, problem: 'issued_in_future' })
    expect(await refusal({ nbf: now() + 3_600 })).toEqual({ ...EARLY, problem: 'not_yet_valid' })
  })
})
