/**
 * The conformance vectors: the committed file is what the gateway's signing code makes today
 * (so a token format change that is not regenerated fails here), and the JS verifier's sources
 * give every vector's expected result. The Python suite reads the same file
 * (test/node/python.test.ts); the packed package runs it too (test/node/verifier-package.test.ts).
 */
import { readFileSync } from 'node:fs'
import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose'
import { describe, expect, it } from 'vitest'
import * as verifier from '../../packages/verifier/src/index.ts'
import { generateVectors, VECTORS_PATH, type VectorFile } from '../vectors/generate.ts'
import { runVector } from '../vectors/run-vectors.mjs'

function algOf(token: string): unknown {
  try {
    return (decodeProtectedHeader(token) as { alg?: unknown }).alg
  } catch {
    return undefined
  }
}

const committed = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as VectorFile

describe('the committed vectors', () => {
  it('are what the gateway signing code makes today (else: npm run vectors, then make both verifiers pass)', async () => {
    const fresh = await generateVectors()
    const { vectors: freshVectors, ...freshRest } = fresh
    const { vectors: committedVectors, ...committedRest } = committed
    expect(committedRest).toEqual(freshRest)
    expect(committedVectors.map((v) => v.name)).toEqual(freshVectors.map((v) => v.name))
    const jwks = createLocalJWKSet(fresh.jwks)
    for (const [i, vector] of committedVectors.entries()) {
      const again = freshVectors[i] as (typeof freshVectors)[number]
      const { token, ...rest } = vector
      const { token: freshToken, ...freshRestOfVector } = again
      expect(rest, vector.name).toEqual(freshRestOfVector)
      // EdDSA and HMAC signatures are deterministic; ECDSA ones are not, so an ES256 token is
      // the same when its header and payload are and its signature verifies.
      if (token && freshToken && algOf(token) === 'ES256') {
        expect(token.split('.').slice(0, 2), vector.name).toEqual(freshToken.split('.').slice(0, 2))
        await expect(compactVerify(token, jwks), vector.name).resolves.toBeDefined()
      } else {
        expect(token, vector.name).toBe(freshToken)
      }
    }
  })

  it('hold one refused vector for every reason code but keys_unavailable (which needs a network)', () => {
    const reasons = new Set(committed.vectors.map((v) => ('reason' in v.expect ? v.expect.reason : 'ok')))
    for (const reason of verifier.REASON_CODES.filter((r) => r !== 'keys_unavailable'))
      expect(reasons).toContain(reason)
    expect(reasons).toContain('ok')
  })
})

describe('the JS verifier (sources) on every vector', () => {
  it.each(committed.vectors.map((v) => [v.name, v] as const))('%s', async (_, vector) => {
    expect(await runVector(verifier, committed, vector)).toEqual(vector.expect)
  })
})
