/**
 * Red-team pass 7 and the code audit, at build time: a rule means the text it was written as.
 * Numbers YAML reads otherwise, YAML 1.1, invoker kinds in another case, `*` in `when: { kind }`,
 * and HEAD under a rule written for GET.
 */
import { describe, expect, it } from 'vitest'
import type { Authentication } from '../../src/invoker.ts'
import { decide } from '../../src/pipeline/authorize/decide.ts'
import { rulesThatApply } from '../../src/policy/limit-rules.ts'
import { parseInstant } from '../../src/policy/compiler/instant.ts'
import { compileErrors, compileYaml } from '../support/policy.ts'

const GATEWAY = `
issuer: https://gateway.test
api_keys:
  snow:
    key_id: "sNowKey1"
    sha256: "${'a'.repeat(64)}"
    invoker: { id: "1234567890123456789", kind: apiKey, meta: { level: 3, admin: true } }
`
const pack = (extra: string): string => `
pack: lab
upstream: http://127.0.0.1:9000
match: { path_prefix: /lab }
auth: [api_key]
${extra}`

const snow: Authentication = {
  invoker: { id: '1234567890123456789', kind: 'apiKey', meta: { level: 3, admin: true } },
  auth: { method: 'api_key', api_key: 'snow' },
}

describe('numbers and booleans in rules match the text written', () => {
  it.each([
    ['a leading zero', 'deny: [{ id: 007 }]', 'YAML reads 007 as 7'],
    ['hex', 'deny: [{ meta.org: 0x10 }]', 'YAML reads 0x10 as 16'],
    ['an exponent', 'deny: [{ id: 1e3 }]', 'YAML reads 1e3 as 1000'],
    ['more digits than a double holds', 'deny: [{ id: 1234567890123456789 }]', 'as 1234567890123456800'],
    ['a trailing zero', 'deny: [{ meta.level: 1.50 }]', 'YAML reads 1.50 as 1.5'],
    ['a capital boolean', 'deny: [{ meta.admin: True }]', 'YAML reads True as true'],
    ['one element of a list', 'deny: [{ id: [7, 0o17] }]', 'YAML reads 0o17 as 15'],
  ])('%s is refused, naming the quoted form', (_, rules, message) => {
    const errors = compileErrors({ lab: pack(rules) }, GATEWAY)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(message)
    expect(errors[0]).toContain('in quotes')
  })

  it('a number or boolean written as JavaScript writes it compiles, and matches', () => {
    const { policy } = compileYaml({ lab: pack('deny: [{ meta.level: 3, meta.admin: true }]') }, GATEWAY)
    const lab = policy.packs[0]
    if (lab === undefined) throw new Error('no pack')
    expect(decide(lab, null, snow, 'GET')).toMatchObject({ allowed: false, list: 'pack_deny' })
  })

  it('the id quoted matches the caller YAML would have misread', () => {
    const { policy } = compileYaml({ lab: pack('deny: [{ id: "1234567890123456789" }]') }, GATEWAY)
    const lab = policy.packs[0]
    if (lab === undefined) throw new Error('no pack')
    expect(decide(lab, null, snow, 'GET')).toMatchObject({ allowed: false, list: 'pack_deny' })
  })

  it.each([
    [
      'invoker meta in _gateway.yaml',
      'meta: { level: 3, admin: true }',
      'meta: { level: 3, org: 007 }',
      'YAML reads 007 as 7',
    ],
    ['a list in meta', 'meta: { level: 3, admin: true }', 'meta: { groups: [sales, 0x10] }', 'YAML reads 0x10 as 16'],
    ['a key', '  snow:', '  1e3:', 'YAML reads 1e3 as 1000'],
  ])('pass 9: %s is held to the same rule', (_, from, to, message) => {
    const errors = compileErrors({ lab: pack('') }, GATEWAY.replace(from, to))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(message)
  })

  it('pass 9: an MCP tool named by a number YAML reads otherwise is refused', () => {
    const mcp = `pack: tools
upstream: http://127.0.0.1:9000
match: { path_prefix: /tools }
protocol: mcp
auth: [api_key]
mcp:
  tools:
    default: allow
    names:
      007: { allow: [{ api_key: snow }] }
`
    const errors = compileErrors({ tools: mcp }, GATEWAY)
    expect(errors.some((e) => e.includes('YAML reads 007 as 7'))).toBe(true)
  })

  it('pass 9: a rule value reached through an alias is judged by the anchored text', () => {
    const errors = compileErrors(
      { lab: pack('allow: [{ meta.level: &lvl 3 }]\ndeny: [{ meta.level: *lvl }, { id: [*lvl, 0x1] }]') },
      GATEWAY,
    )
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain('YAML reads 0x1 as 1')
  })

  it('a %YAML 1.1 directive (merge keys, yes/no booleans) is refused; %YAML 1.2 is read', () => {
    expect(compileErrors({ lab: `%YAML 1.1\n---\n${pack('')}` }, GATEWAY)).toEqual([
      'policies/lab.yaml:1:1: policy files are YAML 1.2: remove the %YAML directive',
    ])
    expect(compileErrors({ lab: `%YAML 1.2\n---\n${pack('')}` }, GATEWAY)).toEqual([])
  })
})

describe('invoker kinds', () => {
  const anonymous: Authentication = {
    invoker: { id: 'anon:x', kind: 'anonymous', meta: {} },
    auth: { method: 'anonymous' },
  }
  const subject = (authentication: Authentication, method = 'GET') => {
    return (policyPack: ReturnType<typeof compileYaml>['policy']['packs'][number]) =>
      rulesThatApply(policyPack.rateLimits, {
        pack: policyPack,
        agent: null,
        authentication,
        method,
        addressKey: '192.0.2.1',
      }).map((rule) => rule.id)
  }

  it('`when: { kind }` takes `*` and globs, as README says', () => {
    const { policy } = compileYaml(
      {
        lab: pack(`rate_limits:
  - { id: every-kind, by: invoker, when: { kind: "*" }, limit: 2, window: 1m }
  - { id: api-kinds, by: invoker, when: { kind: "api*" }, limit: 2, window: 1m }
  - { id: anon-only, by: ip, when: { kind: anonymous }, limit: 2, window: 1m }`),
      },
      GATEWAY,
    )
    const lab = policy.packs[0]
    if (lab === undefined) throw new Error('no pack')
    expect(subject(snow)(lab)).toEqual(['every-kind', 'api-kinds'])
    expect(subject(anonymous)(lab)).toEqual(['every-kind', 'anon-only'])
  })

  it('a concurrency rule takes kind globs too', () => {
    const { policy } = compileYaml(
      { lab: pack('concurrency:\n  - { id: open, by: invoker, when: { kind: "*" }, limit: 2 }') },
      GATEWAY,
    )
    const rules = policy.packs[0]?.concurrency ?? []
    expect(
      rulesThatApply(rules, {
        pack: policy.packs[0] as never,
        agent: null,
        authentication: snow,
        method: 'GET',
        addressKey: null,
      }),
    ).toHaveLength(1)
  })

  it.each([
    ['a deny rule', 'deny: [{ kind: apikey }]', '"apikey" matches nobody (did you mean "apiKey"?)'],
    ['a list of kinds', 'deny: [{ kind: [service, Anonymous] }]', '"Anonymous" matches nobody'],
    [
      'a rate limit',
      'rate_limits:\n  - { id: r, by: invoker, when: { kind: AuthUser }, limit: 2, window: 1m }',
      '"AuthUser" matches nobody (did you mean "authUser"?)',
    ],
    [
      'a concurrency rule',
      'concurrency:\n  - { id: c, by: invoker, when: { kind: APIKEY }, limit: 2 }',
      '"APIKEY" matches nobody',
    ],
  ])('a built-in kind in another case is refused in %s', (_, rules, message) => {
    const errors = compileErrors({ lab: pack(rules) }, GATEWAY)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(message)
  })

  it.each([
    ['Apikey*', '"Apikey*" does not match "apiKey"'],
    ['*key', '"*key" does not match "apiKey"'],
    ['AUTH*', '"AUTH*" does not match "authUser"'],
  ])('pass 9: a kind glob that misses a built-in kind only by case (%s) is refused', (glob, message) => {
    const errors = compileErrors({ lab: pack(`deny: [{ kind: "${glob}" }]`) }, GATEWAY)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(message)
    expect(
      compileErrors(
        { lab: pack(`rate_limits:\n  - { id: r, by: invoker, when: { kind: ["${glob}"] }, limit: 1, window: 1m }`) },
        GATEWAY,
      ),
    ).toHaveLength(1)
  })

  it('a custom kind is the policy’s own and compiles', () => {
    expect(compileErrors({ lab: pack('deny: [{ kind: [robot, "partner*", "api*", "*User"] }]') }, GATEWAY)).toEqual([])
  })
})

describe('HEAD is judged as GET (RFC 9110 §9.3.2: backends run the GET handler for it)', () => {
  const compiled = (rules: string) => {
    const lab = compileYaml({ lab: pack(rules) }, GATEWAY).policy.packs[0]
    if (lab === undefined) throw new Error('no pack')
    return lab
  }

  it('a deny written for GET refuses HEAD; one written for HEAD alone leaves GET alone', () => {
    const get = compiled('deny: [{ api_key: snow, method: GET }]')
    expect(decide(get, null, snow, 'HEAD')).toMatchObject({ allowed: false, list: 'pack_deny' })
    expect(decide(get, null, snow, 'POST')).toMatchObject({ allowed: true })
    const lowerCase = compiled('deny: [{ api_key: snow, method: [get, post] }]')
    expect(decide(lowerCase, null, snow, 'HEAD')).toMatchObject({ allowed: false })
    const head = compiled('deny: [{ api_key: snow, method: HEAD }]')
    expect(decide(head, null, snow, 'GET')).toMatchObject({ allowed: true })
  })

  it('an allow written for GET admits HEAD', () => {
    const lab = compiled('allow: [{ method: GET }]')
    expect(decide(lab, null, snow, 'HEAD')).toMatchObject({ allowed: true })
    expect(decide(lab, null, snow, 'DELETE')).toMatchObject({ allowed: false, list: 'pack_allow' })
  })

  it('a rate limit or concurrency rule for GET counts HEAD', () => {
    const lab = compiled(`rate_limits:
  - { id: reads, by: invoker, when: { method: GET }, limit: 2, window: 1m }
concurrency:
  - { id: open-reads, by: invoker, when: { method: [GET] }, limit: 2 }`)
    const subject = { pack: lab, agent: null, authentication: snow, method: 'HEAD', addressKey: null }
    expect(rulesThatApply(lab.rateLimits, subject).map((rule) => rule.id)).toEqual(['reads'])
    expect(rulesThatApply(lab.concurrency, subject).map((rule) => rule.id)).toEqual(['open-reads'])
    expect(rulesThatApply(lab.rateLimits, { ...subject, method: 'POST' })).toEqual([])
  })
})

describe('expiry dates are ISO 8601 instants, read strictly', () => {
  const gatewayWith = (expires: string): string =>
    `issuer: https://gateway.test\napi_keys:\n  lapsing:\n    key_id: "lApsing1"\n    sha256: "${'b'.repeat(64)}"\n    expires: "${expires}"\n`

  it.each([
    ['2027-06-30', Date.UTC(2027, 5, 30)],
    ['2027-06-30T10:00Z', Date.UTC(2027, 5, 30, 10)],
    ['2027-06-30T10:00:05.25+02:00', Date.UTC(2027, 5, 30, 8, 0, 5, 250)],
    ['2028-02-29T23:59:59-00:30', Date.UTC(2028, 2, 1, 0, 29, 59)],
  ])('%s is read as written', (text, expected) => {
    expect(parseInstant(text)).toBe(expected)
    const { policy } = compileYaml({ lab: pack('') }, gatewayWith(text))
    expect(policy.apiKeys['lApsing1']?.expiresAt).toBe(Math.floor(expected / 1000))
  })

  it.each([
    ['a day the month does not have (Date.parse rolls it over to March 2)', '2026-02-30'],
    ['a bare number (Date.parse reads "12" as December 2001)', '12'],
    ['a date-time without an offset (Date.parse reads the build machine’s time zone)', '2027-06-30T10:00'],
    ['hour 24', '2027-06-30T24:00Z'],
    ['a written-out date', 'June 30, 2027'],
  ])('%s is refused', (_, text) => {
    expect(parseInstant(text)).toBeNull()
    const errors = compileErrors({ lab: pack('') }, gatewayWith(text))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain('expires is not an ISO 8601 date')
  })
})
