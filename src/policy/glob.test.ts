import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { policyOf } from '../../test/support/policy.ts'
import type { Authentication } from '../invoker.ts'
import { decide } from '../pipeline/authorize/decide.ts'
import type { CompiledPack } from './types.ts'
import { compileGlob, globMatches } from './glob.ts'

const matches = (glob: string, text: string): boolean => {
  const segments = compileGlob(glob)
  return segments === null ? glob === text : globMatches(segments, text)
}

/**
 * The reference: the textbook dynamic programme over (glob position, text position), obviously
 * right and O(n·m) in time and memory. Only for tests.
 */
function referenceMatches(glob: string, text: string): boolean {
  let row = new Array<boolean>(text.length + 1).fill(false)
  row[0] = true
  for (const g of glob) {
    const next = new Array<boolean>(text.length + 1).fill(false)
    if (g === '*') {
      next[0] = row[0] as boolean
      for (let j = 1; j <= text.length; j++) next[j] = (row[j] as boolean) || (next[j - 1] as boolean)
    } else {
      for (let j = 1; j <= text.length; j++) next[j] = (row[j - 1] as boolean) && text[j - 1] === g
    }
    row = next
  }
  return row[text.length] as boolean
}

describe('glob matcher', () => {
  it('anchors both ends and lets * match any run, including none', () => {
    expect(matches('*@example.com', 'a@example.com')).toBe(true)
    expect(matches('*@example.com', '@example.com')).toBe(true)
    expect(matches('*@example.com', 'a@example.com.evil.io')).toBe(false)
    expect(matches('intern *', 'intern Bob')).toBe(true)
    expect(matches('intern *', 'an intern Bob')).toBe(false)
    expect(matches('a*b*c', 'abc')).toBe(true)
    expect(matches('a*b*c', 'acb')).toBe(false)
    expect(matches('ab*ba', 'aba')).toBe(false) // head and tail may not overlap
    expect(matches('ab*ba', 'abba')).toBe(true)
    expect(matches('*', '')).toBe(true)
    expect(matches('**', 'x')).toBe(true)
    // Regex syntax is literal text.
    expect(matches('a.c*', 'abc')).toBe(false)
    expect(matches('(a|b)*', '(a|b)x')).toBe(true)
    expect(matches('^*$', '^x$')).toBe(true)
  })

  it('compiles to literal segments: first and last anchored, empty middles dropped', () => {
    expect(compileGlob('plain')).toBeNull()
    expect(compileGlob('*@*.*.example.com')).toEqual(['', '@', '.', '.example.com'])
    expect(compileGlob('a**b')).toEqual(['a', 'b'])
    expect(compileGlob('*')).toEqual(['', ''])
  })

  it('agrees with the reference matcher on generated globs and values (property)', () => {
    const alphabet = fc.constantFrom('a', 'b', '.', '@', '*')
    const glob = fc.array(alphabet, { maxLength: 12 }).map((chars) => chars.join(''))
    const text = fc.array(fc.constantFrom('a', 'b', '.', '@', '*'), { maxLength: 24 }).map((chars) => chars.join(''))
    fc.assert(
      fc.property(glob, text, (g, t) => {
        // Without `*` a rule value is compared exactly, as the reference does too.
        expect(matches(g, t)).toBe(referenceMatches(g, t))
      }),
      { numRuns: 3000, seed: 12 },
    )
    // Values built to match: a glob's segments with arbitrary runs in place of each `*`.
    fc.assert(
      fc.property(glob, fc.array(fc.string({ maxLength: 6 }), { minLength: 13, maxLength: 13 }), (g, fills) => {
        let i = 0
        const t = g.replace(/\*/g, () => fills[i++] as string)
        expect(matches(g, t)).toBe(true)
      }),
      { numRuns: 1000, seed: 12 },
    )
  })
})

describe('item 2: wildcard rules cannot be made to backtrack', () => {
  const pack = policyOf({
    weather: `
pack: weather
upstream: http://127.0.0.1:1
match: { path_prefix: /packs/weather }
auth: [api_key]
allow:
  - { email: "*@*.*.example.com" }
  - { label: "*-*-*-*-admin" }
`,
  }).packs[0] as CompiledPack
  const who = (meta: Authentication['invoker']['meta'], label?: string): Authentication => ({
    invoker: { id: 'u1', kind: 'authUser', meta, ...(label !== undefined ? { label } : {}) },
    auth: { method: 'bearer' },
  })

  /** The fastest of a few tries, so that a loaded machine's pause is not mistaken for the matcher. */
  function fastest(run: () => unknown): number {
    let best = Infinity
    for (let attempt = 0; attempt < 3; attempt++) {
      const started = performance.now()
      run()
      const elapsed = performance.now() - started
      best = Math.min(best, elapsed)
      // A regex that backtracks takes seconds on the first try: no need to wait for two more.
      if (elapsed > 1000 || best < 10) break
    }
    return best
  }

  it('item 2: a pathological glob decides in under 10 ms', () => {
    // '@.' repeated: every '@' and '.' is a place the old `^.*@.*\..*\.example\.com$` tried.
    const hostile = '@.'.repeat(4000)
    expect(hostile).toHaveLength(8000)
    let decision: ReturnType<typeof decide> | null = null
    expect(fastest(() => (decision = decide(pack, null, who({ email: hostile }), 'GET')))).toBeLessThan(10)
    expect(decision).toMatchObject({ allowed: false, list: 'pack_allow' })
    // The same holds for a value that matches, and for every field a glob may test.
    const matching = 'a@' + 'b.'.repeat(3990) + 'x.example.com'
    expect(fastest(() => (decision = decide(pack, null, who({ email: matching }), 'GET')))).toBeLessThan(10)
    expect(decision).toEqual({ allowed: true, rule: 'allow[0]' })
    expect(fastest(() => (decision = decide(pack, null, who({}, '-'.repeat(8000)), 'GET')))).toBeLessThan(10)
    expect(decision).toMatchObject({ allowed: false })
  })
})
