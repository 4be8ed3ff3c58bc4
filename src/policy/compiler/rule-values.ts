/**
 * Values written in rules, compiled once: patterns (exact or glob) and invoker kinds. Shared by
 * the pack's allow/deny rules, its rate limits and its concurrency rules. Build time only.
 *
 * @module
 */
import { BUILT_IN_KINDS } from '../../invoker.ts'
import { compileGlob } from '../glob.ts'
import { patternMatches } from '../rules.ts'
import type { CompiledPattern } from '../types.ts'

/**
 * A method condition that admits GET admits HEAD too. RFC 9110 §9.3.2: HEAD is GET without the
 * body, and Express, Flask, Starlette and Django run the GET handler for it (the gateway answers
 * HEAD as its GET too), so a deny or a rate limit written for GET that let HEAD pass would let
 * the GET handler run. Patterns here are lower-case (rules compare methods without case).
 */
export function methodPatterns(values: readonly string[]): CompiledPattern[] {
  const patterns = values.map((value) => compilePattern(value, true))
  const admits = (method: string): boolean => patterns.some((pattern) => patternMatches(pattern, method))
  if (admits('get') && !admits('head')) patterns.push({ exact: 'head' })
  return patterns
}

/** `when: { method }` of rate limits and concurrency rules (upper-case): GET brings HEAD, as above. */
export function whenMethods(methods: string[] | null): string[] | null {
  if (methods === null || !methods.includes('GET') || methods.includes('HEAD')) return methods
  return [...methods, 'HEAD']
}

/** Exact, or a glob split on `*`: no regular expression is built from policy text (issue 12, item 2). */
export function compilePattern(value: string, foldCase: boolean): CompiledPattern {
  const text = foldCase ? value.toLowerCase() : value
  const glob = compileGlob(text)
  return glob === null ? { exact: text } : { glob }
}

/**
 * Kinds are compared exactly, so a built-in kind in another case (`apikey`, `Anonymous`) would
 * match nobody: a deny or a rate limit that silently never applies. Custom kinds are the
 * policy's own and pass as written.
 */
export function kindProblem(kind: string): string | null {
  const exact = compilePattern(kind, false)
  const folded = compilePattern(kind, true)
  // A glob too: `Apikey*` matches `apikey` without case and `apiKey` not at all.
  const meant = BUILT_IN_KINDS.find(
    (builtIn) => !patternMatches(exact, builtIn) && patternMatches(folded, builtIn.toLowerCase()),
  )
  if (meant === undefined) return null
  return 'exact' in exact
    ? `invoker kinds are case-sensitive: "${kind}" matches nobody (did you mean "${meant}"?)`
    : `invoker kinds are case-sensitive: "${kind}" does not match "${meant}"`
}
