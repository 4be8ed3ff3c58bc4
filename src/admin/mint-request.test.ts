import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors/reasons.ts'
import { parseMintRequest, type MintContext } from './mint-request.ts'

const CONTEXT: MintContext = {
  policyKeyIds: new Set(['Policy01']),
  policyNames: new Set(['fixed']),
  packIds: new Set(['keys', 'tokens']),
  reservedIds: ['anon:', 'chat-host:', 'idp:'],
  policyInvokerIds: new Set(['apikey:fixed', 'apikey:legacy-bot', 'svc-crm', 'signer:crawler']),
}
const GOOD = { key_id: 'Runtime1', sha256: 'a'.repeat(64), name: 'deploy-bot', packs: ['keys'] }
const NOW = 1_800_000_000

function problemOf(body: unknown): string | null {
  try {
    parseMintRequest(body, CONTEXT, NOW)
    return null
  } catch (error) {
    if (error instanceof GatewayError && error.detail.reason === 'admin_bad_request') return error.detail.problem
    throw error
  }
}

describe('the mint request body', () => {
  it('reads a valid body into the record to store, with the invoker defaults', () => {
    expect(parseMintRequest(GOOD, CONTEXT, NOW)).toEqual({
      name: 'deploy-bot',
      keyId: 'Runtime1',
      sha256: 'a'.repeat(64),
      packs: ['keys'],
      expiresAt: null,
      revoked: false,
      createdAt: NOW,
      invoker: { id: 'apikey:deploy-bot', kind: 'apiKey', label: 'deploy-bot', meta: {} },
    })
    const full = {
      ...GOOD,
      expires_at: 1_900_000_000,
      invoker: { id: 'svc-7', kind: 'service', label: 'Deploys', meta: { team: 'ops' } },
    }
    expect(parseMintRequest(full, CONTEXT, NOW)).toMatchObject({
      expiresAt: 1_900_000_000,
      invoker: { id: 'svc-7', kind: 'service', label: 'Deploys', meta: { team: 'ops' } },
    })
  })

  it.each([
    ['not an object', [GOOD], 'the body is a JSON object'],
    ['an unknown field, before any other problem', { ...GOOD, key_id: 'short', extra: 1 }, 'unknown field "extra"'],
    ['a field named like a prototype member', JSON.parse('{"__proto__": 1}'), 'unknown field "__proto__"'],
    ['a short key id', { ...GOOD, key_id: 'short' }, 'key_id is 8 base62 characters'],
    ['a key id the policy uses', { ...GOOD, key_id: 'Policy01' }, 'key_id is used by a key in the policy'],
    ['an upper-case digest', { ...GOOD, sha256: 'A'.repeat(64) }, 'sha256 is 64 lower-case hex characters'],
    [
      'a name with a space',
      { ...GOOD, name: 'Bad Name' },
      'name is lower-case letters, digits, "-" and "_" (at most 63 characters)',
    ],
    [
      'a name of 64 characters',
      { ...GOOD, name: 'x'.repeat(64) },
      'name is lower-case letters, digits, "-" and "_" (at most 63 characters)',
    ],
    ['a name the policy uses', { ...GOOD, name: 'fixed' }, 'name "fixed" is used by a key in the policy'],
    ['no packs', { ...GOOD, packs: [] }, 'packs lists the packs the key may call (at least one)'],
    ['packs as a string', { ...GOOD, packs: 'keys' }, 'packs lists the packs the key may call (at least one)'],
    ['an unknown pack', { ...GOOD, packs: ['keys', 'nope'] }, 'no pack is named "nope"'],
    ['a pack that is not a string', { ...GOOD, packs: [1] }, 'no pack is named 1'],
    ['a fractional expiry', { ...GOOD, expires_at: 1.5 }, 'expires_at is Unix seconds'],
    ['an expiry as a date', { ...GOOD, expires_at: '2030-01-01' }, 'expires_at is Unix seconds'],
    ['an invoker that is not an object', { ...GOOD, invoker: 'me' }, 'invoker is an object'],
    ['an unknown invoker field', { ...GOOD, invoker: { id: 'x', role: 'admin' } }, 'unknown invoker field "role"'],
    ['an empty invoker id', { ...GOOD, invoker: { id: '' } }, 'invoker.id is a non-empty string'],
    [
      "a policy key's invoker (red team, 2026-12-01)",
      { ...GOOD, invoker: { id: 'svc-crm' } },
      'invoker.id "svc-crm" is the id of an invoker the policy defines',
    ],
    [
      "a policy key's invoker in capitals (red team 4)",
      { ...GOOD, invoker: { id: 'SVC-CRM' } },
      'invoker.id "SVC-CRM" is the id of an invoker the policy defines',
    ],
    [
      "a signer's invoker",
      { ...GOOD, invoker: { id: 'signer:crawler' } },
      'invoker.id "signer:crawler" is the id of an invoker the policy defines',
    ],
    [
      "a policy key's default id, named",
      { ...GOOD, name: 'fixed2', invoker: { id: 'apikey:fixed' } },
      'invoker.id "apikey:fixed" is the id of an invoker the policy defines',
    ],
    [
      'by default, an id a policy key holds under another name',
      { ...GOOD, name: 'legacy-bot' },
      'invoker.id "apikey:legacy-bot" is the id of an invoker the policy defines',
    ],
    [
      "an issuer's user",
      { ...GOOD, invoker: { id: 'idp:alice' } },
      'invoker.id may not start with "idp:": those ids belong to another kind of invoker',
    ],
    [
      'an anonymous id',
      { ...GOOD, invoker: { id: 'anon:x' } },
      'invoker.id may not start with "anon:": those ids belong to another kind of invoker',
    ],
    [
      "a delegating signer's user",
      { ...GOOD, invoker: { id: 'chat-host:alice' } },
      'invoker.id may not start with "chat-host:": those ids belong to another kind of invoker',
    ],
    [
      "an issuer's user, spelled in capitals",
      { ...GOOD, invoker: { id: 'IDP:alice' } },
      'invoker.id may not start with "idp:": those ids belong to another kind of invoker',
    ],
    [
      "a policy key's invoker behind a NEL, which Python's strip() removes (red team 5)",
      { ...GOOD, invoker: { id: '\u0085svc-crm' } },
      'invoker.id "\u0085svc-crm" is the id of an invoker the policy defines',
    ],
    [
      'an anonymous id behind a space and a full-width colon',
      { ...GOOD, invoker: { id: ' anon\uFF1Ax' } },
      'invoker.id may not start with "anon:": those ids belong to another kind of invoker',
    ],
    ['an empty kind', { ...GOOD, invoker: { kind: '' } }, 'invoker.kind is a non-empty string'],
    ['a label that is not a string', { ...GOOD, invoker: { label: 5 } }, 'invoker.label is a string'],
    ['meta as a list', { ...GOOD, invoker: { meta: [] } }, 'invoker.meta is an object'],
    ['an oversized id', { ...GOOD, invoker: { id: 'u'.repeat(257) } }, expect.stringMatching(/^invoker\.id /)],
  ])('refuses %s', (_, body, problem) => {
    expect(problemOf(body)).toEqual(problem)
  })
})
