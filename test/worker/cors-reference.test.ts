/**
 * The cors step against the middleware it replaced: issue 18 took Hono out of the request path,
 * and the gateway's CORS answers were hono's `cors` middleware's (per pack, with the options
 * below). Here the two answer the same requests side by side, a Hono app with that middleware in
 * front of a handler and the gateway in front of the test backend, and every CORS field (and
 * Vary) must be the same: preflights from a trusted origin, another one and none, with and
 * without requested headers; plain answers; and a refusal (401), which a browser app must read.
 */
import { Hono } from 'hono'
import { cors as honoCors } from 'hono/cors'
import { describe, expect, it } from 'vitest'
import { ALLOW_HEADERS, EXPOSE_HEADERS } from '../../src/pipeline/cors/index.ts'
import { gateway } from './harness.ts'

// hono's `cors` gets the gateway's own default lists: the two differ only in how they answer.
const TRUSTED = 'https://app.test'
const ALSO_TRUSTED = 'https://admin.app.test'

const PACKS = {
  open: `
pack: open
upstream: $BACKEND
match: { path_prefix: /open }
auth: [api_key]
anonymous: allow
cors: { origins: [${TRUSTED}, ${ALSO_TRUSTED}] }
`,
  tuned: `
pack: tuned
upstream: $BACKEND
match: { path_prefix: /tuned }
auth: [api_key]
anonymous: allow
cors: { origins: [${TRUSTED}], credentials: false, max_age: 45s, allow_headers: [x-trace-note], expose_headers: [x-backend-version] }
`,
  closed: `
pack: closed
upstream: $BACKEND
match: { path_prefix: /closed }
auth: [api_key]
cors: { origins: [${TRUSTED}] }
`,
}

/** Hono with the middleware as the gateway configured it before issue 18, per pack. */
function reference(): Hono {
  const app = new Hono()
  const options = {
    open: {
      origin: [TRUSTED, ALSO_TRUSTED],
      credentials: true,
      maxAge: 600,
      allowHeaders: ALLOW_HEADERS,
      exposeHeaders: EXPOSE_HEADERS,
    },
    tuned: {
      origin: [TRUSTED],
      credentials: false,
      maxAge: 45,
      allowHeaders: [...ALLOW_HEADERS, 'x-trace-note'],
      exposeHeaders: [...EXPOSE_HEADERS, 'x-backend-version'],
    },
    closed: {
      origin: [TRUSTED],
      credentials: true,
      maxAge: 600,
      allowHeaders: ALLOW_HEADERS,
      exposeHeaders: EXPOSE_HEADERS,
    },
  }
  for (const [pack, option] of Object.entries(options)) {
    app.use(`/${pack}/*`, honoCors(option))
    app.all(`/${pack}/*`, (c) => (pack === 'closed' ? c.json({ title: 'Unauthorized' }, 401) : c.json({ ok: true })))
  }
  return app
}

/** The CORS fields of an answer, and Vary, by name. */
function corsOf(response: Response): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const [name, value] of response.headers)
    if (name.startsWith('access-control-') || name === 'vary') fields[name] = value
  return fields
}

const gw = gateway(PACKS, 'issuer: https://gateway.test\n')
const hono = reference()

const ORIGINS: Record<string, Record<string, string>> = {
  'a trusted origin': { origin: TRUSTED },
  'the other trusted origin': { origin: ALSO_TRUSTED },
  'an untrusted origin': { origin: 'https://evil.test' },
  'no origin': {},
}

const REQUESTS: Record<string, RequestInit> = {
  'a preflight': { method: 'OPTIONS', headers: { 'access-control-request-method': 'POST' } },
  'a preflight naming headers': {
    method: 'OPTIONS',
    headers: { 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type, x-trace-note' },
  },
  'a GET': { method: 'GET' },
  'a POST': { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } },
}

describe.each(Object.keys(PACKS))('pack %s: the cors step answers as hono/cors did', (pack) => {
  for (const [originCase, originHeaders] of Object.entries(ORIGINS)) {
    for (const [requestCase, init] of Object.entries(REQUESTS)) {
      it(`${requestCase}, from ${originCase}`, async () => {
        const headers = { ...(init.headers as Record<string, string> | undefined), ...originHeaders }
        const ours = await gw.fetch(`/${pack}/x`, { ...init, headers })
        const theirs = await hono.request(`https://gw.test/${pack}/x`, { ...init, headers })
        expect(ours.status).toBe(theirs.status)
        if (init.method === 'OPTIONS') {
          expect(ours.statusText).toBe(theirs.statusText)
          expect(ours.body).toBeNull()
        }
        expect(corsOf(ours)).toEqual(corsOf(theirs))
        await ours.body?.cancel()
      })
    }
  }
})
