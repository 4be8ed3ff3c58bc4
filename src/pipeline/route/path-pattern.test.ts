import { describe, expect, it } from 'vitest'
import { matchesPattern, parsePathPattern, patternsOverlap } from './path-pattern.ts'

const segments = (pattern: string): string[] => {
  const parsed = parsePathPattern(pattern)
  if (!parsed.ok) throw new Error(parsed.problem)
  return parsed.segments
}
const path = (p: string): string[] => p.slice(1).toLowerCase().split('/').filter(Boolean)

describe('agent path patterns', () => {
  it('matches literal, one-segment and rest wildcards, ignoring case', () => {
    expect(matchesPattern(segments('/agents/InternalCRMQuery/**'), path('/agents/internalcrmquery/run'))).toBe(true)
    expect(matchesPattern(segments('/agents/InternalCRMQuery/**'), path('/agents/InternalCRMQuery'))).toBe(true)
    expect(matchesPattern(segments('/agents/*/run'), path('/agents/x/run'))).toBe(true)
    expect(matchesPattern(segments('/agents/*/run'), path('/agents/x/y/run'))).toBe(false)
    expect(matchesPattern(segments('/agents/x'), path('/agents/x/y'))).toBe(false)
    expect(matchesPattern(segments('/agents/x'), path('/agents'))).toBe(false)
  })

  it('refuses partial wildcards, inner **, escapes and dot segments', () => {
    for (const bad of ['/a/b*', '/a/**/b', '/a/%2e', '/a/../b', 'a/b']) expect(parsePathPattern(bad).ok).toBe(false)
  })

  it('decides overlap', () => {
    expect(patternsOverlap(segments('/a/**'), segments('/a/b'))).toBe(true)
    expect(patternsOverlap(segments('/a/*/c'), segments('/a/b/*'))).toBe(true)
    expect(patternsOverlap(segments('/a/b'), segments('/a/c'))).toBe(false)
    expect(patternsOverlap(segments('/a/b'), segments('/a/b/c'))).toBe(false)
    expect(patternsOverlap(segments('/a/B'), segments('/a/b'))).toBe(true)
  })
})
