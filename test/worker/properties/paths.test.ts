/**
 * Property: generated paths (the normalizer and the router) and a credential that may be bob's
 * valid key, alice's, a stranger's or none. Never a 500 or a hang; never a 2xx without a valid
 * key; and bob, whom the agent's list refuses, never reaches the agent's backend path, however
 * the path is spelled (as a backend that decodes the path once and resolves dot segments, with
 * any case, would read it).
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { is2xx, propertyGateway, PROPERTY_TIMEOUT_MS, seed, send, strangerKey, type PropertyGateway } from './setup.ts'

let p: PropertyGateway
beforeAll(async () => {
  p = await propertyGateway()
})

/** A word in any case, sometimes with one character percent-encoded. */
const styled = (words: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc
    .tuple(
      words,
      fc.constantFrom('as is', 'as is', 'upper', 'capital', 'alternate'),
      fc.nat(),
      fc.integer({ min: 0, max: 3 }),
    )
    .map(([text, style, at, encode]) => {
      let out =
        style === 'upper'
          ? text.toUpperCase()
          : style === 'capital'
            ? text.charAt(0).toUpperCase() + text.slice(1)
            : style === 'alternate'
              ? [...text].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('')
              : text
      if (encode === 0 && out.length > 0) {
        const i = at % out.length
        const hex = (out.charCodeAt(i) & 0x7f).toString(16).padStart(2, '0')
        out = out.slice(0, i) + '%' + (at % 2 ? hex.toUpperCase() : hex) + out.slice(i + 1)
      }
      return out
    })
/** What may follow a word: matrix parameters, trailing dots and spaces, Windows stream names. */
const decoration = fc.oneof(
  { arbitrary: fc.constant(''), weight: 6 },
  {
    arbitrary: fc.constantFrom(';x=1', ';', '.', '..', ' ', '%20', '::$DATA', '%00', '~1', '?q=1', '#f', '%2e', '/'),
    weight: 4,
  },
)
const separator = fc.oneof(
  { arbitrary: fc.constant('/'), weight: 6 },
  {
    arbitrary: fc.constantFrom('//', '%2f', '%2F', '\\', '%5c', '/./', '/x/../', '/%2e/', '/.%2e/x/', '/%252e%252e/'),
    weight: 4,
  },
)
const segment = (words: readonly string[]): fc.Arbitrary<string> =>
  fc.tuple(separator, styled(fc.constantFrom(...words)), decoration).map(([sep, word, deco]) => sep + word + deco)
/** Mostly the agent's own path, spelled every way a parser may read it: `/agents/secret/…`. */
const structured = fc
  .tuple(
    segment(['agents', 'agents', 'agents', 'x', '.', '..']),
    segment(['secret', 'secret', 'secret', 'run', '..']),
    fc.array(segment(['run', 'x', '..', '.', 'secret']), { maxLength: 3 }),
  )
  .map(([a, b, rest]) => a + b + rest.join(''))
/** And raw noise from the characters that matter to a path parser. */
const noise = fc.string({
  unit: fc.constantFrom('/', '.', '%', '2', 'e', 'f', '5', 'c', '\\', ';', 'a', 'S', 'ü', '€', '\u0000', ' '),
  maxLength: 24,
})
const prefix = fc.constantFrom(
  '/packs/keys',
  '/packs/keys',
  '/packs/keys',
  '/packs/keys',
  '/packs/KEYS',
  '/packs/keys/x/..',
  '/packs/x/../keys',
  '',
)
const path = fc.oneof({ arbitrary: structured, weight: 4 }, { arbitrary: noise, weight: 1 })

/** The path as a lenient backend reads it: one percent-decode, `\` as `/`, dot segments resolved, any case. */
function backendView(raw: string): string[] {
  const path = raw.split('?')[0] as string
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    decoded = path
  }
  const out: string[] = []
  for (const segment of decoded.replace(/\\/g, '/').toLowerCase().split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') out.pop()
    else out.push(segment)
  }
  return out
}

describe('property: paths', () => {
  it(
    'never a 500 or a hang, never a 2xx without a key, and the agent list holds however the path is spelled',
    async () => {
      const credential = fc.constantFrom<'bob' | 'alice' | 'stranger' | 'none'>(
        'bob',
        'bob',
        'bob',
        'alice',
        'stranger',
        'none',
      )
      await fc.assert(
        fc.asyncProperty(prefix, path, credential, async (start, rest, who) => {
          const target = start + (rest.startsWith('/') || rest === '' ? rest : '/' + rest)
          // A path a client cannot send (the URL parser refuses it) is not the gateway's to judge.
          fc.pre(URL.canParse(target, 'https://gw.test'))
          const key =
            who === 'bob' ? p.bob.key : who === 'alice' ? p.alice.key : who === 'stranger' ? strangerKey() : null
          const outcome = await send(p.gw, target, { headers: key === null ? {} : { 'x-api-key': key } })
          if (!is2xx(outcome)) return
          expect(who === 'bob' || who === 'alice', `${outcome.status} without a valid key for ${target}`).toBe(true)
          const received = (JSON.parse(outcome.body) as { path: string }).path
          if (who === 'bob') {
            const [first, second] = backendView(received)
            expect(first === 'agents' && second === 'secret', `bob reached ${received} through ${target}`).toBe(false)
          }
        }),
        { numRuns: 300, seed },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it('the property sees the agent: alice reaches it, bob does not (a positive control)', async () => {
    expect((await send(p.gw, '/packs/keys/agents/secret/run', { headers: { 'x-api-key': p.alice.key } })).status).toBe(
      200,
    )
    expect((await send(p.gw, '/packs/keys/agents/secret/run', { headers: { 'x-api-key': p.bob.key } })).status).toBe(
      403,
    )
  })
})
