/**
 * A Web Bot Auth key directory's last good copy while the directory cannot be fetched: used up to
 * `directory_stale` after it was fetched (as an issuer's JWKS `stale`), then "unavailable" (503),
 * so a key removed from a directory that stays unreachable is not trusted for ever. A real HTTP
 * directory that can answer 500; the clock faked (Date only: the HTTP calls are real) so an hour
 * passes at once. The 503 and its log line run through the gateway in test/worker/telemetry.test.ts.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest'
import { KeyDirectories } from '../../src/pipeline/authenticate/envelope/directory.ts'
import type { EnvelopeSettings } from '../../src/policy/types.ts'

const MIN = 60_000

let server: Server
let origin: string
let status = 200
let jwk: JWK
let keyId: string

beforeAll(async () => {
  const pair = await generateKeyPair('Ed25519', { extractable: true })
  jwk = await exportJWK(pair.publicKey)
  keyId = await calculateJwkThumbprint(jwk, 'sha256')
  server = createServer((_req, res) => {
    if (status !== 200) return void res.writeHead(status).end()
    res.setHeader('content-type', 'application/http-message-signatures-directory+json')
    res.end(JSON.stringify({ keys: [jwk] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterEach(() => {
  vi.useRealTimers()
  status = 200
})
afterAll(() => {
  server.close()
})

const SETTINGS = {
  directoryTimeoutMs: 2_000,
  directoryCacheMs: 10 * MIN,
  directoryStaleMs: 60 * MIN,
} as EnvelopeSettings

it('uses the last good copy while the directory fails, until `directory_stale` after it was fetched', async () => {
  vi.useFakeTimers({ toFake: ['Date'] })
  const t0 = Date.UTC(2026, 0, 1)
  vi.setSystemTime(t0)
  const directories = new KeyDirectories(SETTINGS)
  expect((await directories.lookup(origin, keyId)).kind).toBe('ok') // fetched at t0
  status = 500

  vi.setSystemTime(t0 + 11 * MIN) // past directory_cache: the refetch fails, the 11-minute-old copy answers
  const during = await directories.lookup(origin, keyId)
  expect(during).toMatchObject({ kind: 'ok', value: { stale: { since: t0, problem: 'key directory answered 500' } } })
  vi.setSystemTime(t0 + 59 * MIN)
  expect((await directories.lookup(origin, keyId)).kind).toBe('ok')

  vi.setSystemTime(t0 + 60 * MIN) // the copy is `directory_stale` old: no longer used
  expect(await directories.lookup(origin, keyId)).toEqual({
    kind: 'unavailable',
    problem: 'key directory answered 500; its last good copy is older than directory_stale',
  })
  // The log still says which stale input the request met.
  expect(directories.staleness(origin)).toEqual({ since: t0, problem: 'key directory answered 500' })
  vi.setSystemTime(t0 + 24 * 60 * MIN)
  expect((await directories.lookup(origin, keyId)).kind).toBe('unavailable')
})

it('works again once the directory answers (asked at most every 30 s meanwhile)', async () => {
  vi.useFakeTimers({ toFake: ['Date'] })
  const t0 = Date.UTC(2026, 0, 2)
  vi.setSystemTime(t0)
  const directories = new KeyDirectories(SETTINGS)
  expect((await directories.lookup(origin, keyId)).kind).toBe('ok')
  status = 500
  vi.setSystemTime(t0 + 61 * MIN)
  expect((await directories.lookup(origin, keyId)).kind).toBe('unavailable')
  status = 200
  vi.setSystemTime(t0 + 61 * MIN + 10_000) // within 30 s of the failure: not asked yet
  expect((await directories.lookup(origin, keyId)).kind).toBe('unavailable')
  vi.setSystemTime(t0 + 62 * MIN)
  expect(await directories.lookup(origin, keyId)).toMatchObject({ kind: 'ok', value: { stale: null } })
  expect(directories.staleness(origin)).toBeNull()
})
