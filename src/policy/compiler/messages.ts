/**
 * Policy errors in the gateway's words (issue 17, item 6): YAML's own messages about
 * indentation and structure rewritten to say which line is off and how; a key indented one level
 * too shallow said to belong under the key above it (instead of two errors: an unknown key and an
 * empty map); unknown keys, values and names with a "did you mean" when one is close. Build time
 * only.
 *
 * @module
 */
import type { LineCounter, YAMLError } from 'yaml'
import type { z } from 'zod'

export type Path = readonly (string | number)[]

export interface LineError {
  line: number
  col: number
  message: string
}

export interface SchemaProblem {
  path: Path
  message: string
  /** Point at the key rather than its value. */
  onKey: boolean
}

/** ` (did you mean "x"?)` for the closest candidate within a small edit distance, else nothing. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  let best: string | null = null
  let bestDistance = Infinity
  for (const candidate of candidates) {
    if (candidate === name) continue
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  // Close means a typo: at most 2 edits, and fewer than a third of the name.
  return best !== null && bestDistance <= Math.min(2, Math.floor(name.length / 3)) ? ` (did you mean "${best}"?)` : ''
}

/** Damerau-Levenshtein (optimal string alignment): a swapped pair of letters is one edit. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[] = Array.from({ length: rows * cols }, (_, i) => (i < cols ? i : i % cols === 0 ? i / cols : 0))
  const at = (i: number, j: number): number => d[i * cols + j] as number
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, at(i - 2, j - 2) + 1)
      d[i * cols + j] = value
    }
  }
  return at(rows - 1, cols - 1)
}

// ---------------------------------------------------------------------------------------------
// YAML's errors

/** The parser's errors, one per place, in words about the policy file's lines. */
export function yamlErrors(errors: readonly YAMLError[], text: string, lines: LineCounter): LineError[] {
  const source = text.split('\n')
  const out: LineError[] = []
  const seen = new Set<string>()
  for (const error of errors) {
    const { line, col } = lines.linePos(error.pos[0])
    const rewritten = rewrite(error, line, col, source)
    const key = `${rewritten.line}:${rewritten.col}`
    if (seen.has(key)) continue // YAML often reports one mistake twice at one place
    seen.add(key)
    out.push(rewritten)
  }
  return out
}

function rewrite(error: YAMLError, line: number, col: number, source: string[]): LineError {
  const text = source[line - 1] ?? ''
  const fallback = { line, col, message: error.message.split('\n')[0] ?? error.message }
  switch (error.code) {
    case 'TAB_AS_INDENT':
      return { line, col: 1, message: 'this line is indented with a tab: indent with spaces (two per level)' }
    case 'DUPLICATE_KEY': {
      const key = keyOf(text)
      if (key === null) return fallback
      const first = source.findIndex(
        (other, i) => i < line - 1 && indentOf(other) === indentOf(text) && keyOf(other) === key,
      )
      return {
        line,
        col,
        message: `"${key}" appears twice in this map${first >= 0 ? ` (first on line ${first + 1})` : ''}`,
      }
    }
    case 'BAD_INDENT': {
      if (/sequence items/.test(error.message)) {
        const above = previousLine(source, line, (other) => other.trimStart().startsWith('- '))
        if (above === null) return fallback
        return {
          line,
          col,
          message: `this list item is indented ${spaces(indentOf(text))} but the one on line ${above + 1} is indented ${indentOf(source[above] as string)}: items of one list start in the same column`,
        }
      }
      if (/mapping items/.test(error.message)) {
        const above = previousLine(source, line, (other) => keyOf(other) !== null)
        if (above === null) return fallback
        const key = keyOf(text) ?? 'this key'
        const aboveKey = keyOf(source[above] as string) as string
        return {
          line,
          col,
          message: `"${key}" is indented ${spaces(indentOf(text))} but "${aboveKey}" on line ${above + 1} is indented ${indentOf(source[above] as string)}: keys of one map start in the same column`,
        }
      }
      if (/Flow (map|sequence)/.test(error.message)) {
        const opened = previousLine(
          source,
          line,
          (other) => (other.match(/[[{]/g)?.length ?? 0) > (other.match(/[\]}]/g)?.length ?? 0),
        )
        const where = opened === null ? 'above' : `on line ${opened + 1}`
        return {
          line,
          col,
          message: `a "{" or "[" opened ${where} is not closed: close it on that line, or indent what continues it`,
        }
      }
      return fallback
    }
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY': {
      // The value of `key: value` runs on into a deeper-indented line that looks like a key.
      const next = nextLine(source, line)
      const key = keyOf(text)
      if (
        key !== null &&
        next !== null &&
        indentOf(source[next] as string) > indentOf(text) &&
        keyOf(source[next] as string) !== null
      ) {
        return {
          line: next + 1,
          col: indentOf(source[next] as string) + 1,
          message: `"${keyOf(source[next] as string)}" is indented deeper than "${key}" on line ${line}, which has a value: keys of one map start in the same column (or leave "${key}:" without a value to put a map under it)`,
        }
      }
      if (key === null && text.trim() !== '' && !/:(\s|$)/.test(text)) {
        return { line, col, message: `this line has no ":" after its key: write it as key: value` }
      }
      return fallback
    }
    default:
      return fallback
  }
}

function spaces(n: number): string {
  return n === 1 ? '1 space' : `${n} spaces`
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length
}

/** The key a `key: …` or `- key: …` line names, or null. */
function keyOf(line: string): string | null {
  const match = /^\s*(?:-\s+)?([A-Za-z0-9_.$@-]+|"[^"]*"|'[^']*')\s*:(?:\s|$)/.exec(line)
  return match === null ? null : (match[1] as string).replace(/^["']|["']$/g, '')
}

function isContent(line: string): boolean {
  const trimmed = line.trim()
  return trimmed !== '' && !trimmed.startsWith('#')
}

function previousLine(source: string[], line: number, accept: (text: string) => boolean): number | null {
  for (let i = line - 2; i >= 0; i--) if (isContent(source[i] as string) && accept(source[i] as string)) return i
  return null
}

function nextLine(source: string[], line: number): number | null {
  for (let i = line; i < source.length; i++) if (isContent(source[i] as string)) return i
  return null
}

// ---------------------------------------------------------------------------------------------
// Schema errors

/**
 * zod's issues as problems at places in the file. A key indented one level too shallow (its map
 * above is then empty, `null`) yields one problem, at the key, saying where it belongs; unknown
 * keys and values get a "did you mean".
 */
export function schemaProblems(issues: readonly z.core.$ZodIssue[], raw: unknown, schema: z.ZodType): SchemaProblem[] {
  const problems: SchemaProblem[] = []
  const explained = new Set<string>()
  const misplaced = (path: Path, key: string): SchemaProblem | null => {
    const parent = valueAt(raw, path)
    if (typeof parent !== 'object' || parent === null || Array.isArray(parent)) return null
    for (const [sibling, value] of Object.entries(parent)) {
      if (value !== null || sibling === key) continue
      if (!knownKeys(schemaAt(schema, [...path, sibling])).has(key)) continue
      explained.add(JSON.stringify([...path, sibling]))
      return {
        path: [...path, key],
        message: `"${key}" belongs under "${sibling}": indent it below "${sibling}:"`,
        onKey: true,
      }
    }
    return null
  }
  const pending: Array<() => SchemaProblem | null> = []
  for (const issue of issues) {
    const path = issue.path as Path
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const moved = misplaced(path, key)
        if (moved) {
          problems.push(moved)
          continue
        }
        problems.push({
          path: [...path, key],
          message: `unknown key "${key}"${didYouMean(key, knownKeys(schemaAt(schema, path)))}`,
          onKey: true,
        })
      }
      continue
    }
    // An entry of a map of named things (agents) that is a key of the entry above it.
    const last = path[path.length - 1]
    if (typeof last === 'string' && path.length > 1) {
      const moved = misplaced(path.slice(0, -1), last)
      if (moved) {
        problems.push(moved)
        continue
      }
    }
    pending.push(() => {
      if (explained.has(JSON.stringify(path))) return null
      const where = path.length ? `${path.join('.')}: ` : ''
      return { path, message: where + plainMessage(issue, valueAt(raw, path)), onKey: false }
    })
  }
  // Issues about an empty map whose keys were found below it are explained already.
  for (const next of pending) {
    const problem = next()
    if (problem) problems.push(problem)
  }
  return problems
}

export function valueAt(root: unknown, path: Path): unknown {
  let node = root
  for (const step of path)
    node = typeof node === 'object' && node !== null ? (node as Record<string | number, unknown>)[step] : undefined
  return node
}

function plainMessage(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type') {
    if (value === undefined) return 'is required'
    // YAML reads an unquoted 123 or 1e5 as a number; hashes and ids need quotes.
    if (issue.expected === 'string' && typeof value === 'number') return 'expected a string: put the value in quotes'
    return `expected ${issue.expected}`
  }
  if (issue.code === 'invalid_value') {
    const hint =
      typeof value === 'string'
        ? didYouMean(
            value,
            issue.values.filter((v): v is string => typeof v === 'string'),
          )
        : ''
    return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}${hint}`
  }
  if (issue.code === 'invalid_union') return 'has an unsupported form'
  return issue.message
}

/** The schema that validates the value at `path` (through optional, default, pipe, union…). */
function schemaAt(schema: z.ZodType, path: Path): z.ZodType[] {
  let current: z.ZodType[] = [schema]
  for (const step of path) {
    const next: z.ZodType[] = []
    for (const candidate of current.flatMap(unwrap)) {
      const def = candidate._zod.def as unknown as Record<string, unknown>
      if (def['type'] === 'object' && typeof step === 'string') {
        const shape = def['shape'] as Record<string, z.ZodType>
        if (shape[step] !== undefined) next.push(shape[step])
      } else if (def['type'] === 'record') next.push(def['valueType'] as z.ZodType)
      else if (def['type'] === 'array') next.push(def['element'] as z.ZodType)
    }
    current = next
  }
  return current
}

function unwrap(schema: z.ZodType): z.ZodType[] {
  const def = schema._zod.def as unknown as Record<string, unknown>
  switch (def['type']) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return unwrap(def['innerType'] as z.ZodType)
    case 'pipe':
      return unwrap(def['in'] as z.ZodType)
    case 'lazy':
      return unwrap((def['getter'] as () => z.ZodType)())
    case 'union':
      return (def['options'] as z.ZodType[]).flatMap(unwrap)
    case 'intersection':
      return [...unwrap(def['left'] as z.ZodType), ...unwrap(def['right'] as z.ZodType)]
    default:
      return [schema]
  }
}

/** The keys the object schemas among `schemas` declare. */
function knownKeys(schemas: z.ZodType[]): Set<string> {
  const keys = new Set<string>()
  for (const schema of schemas.flatMap(unwrap)) {
    const def = schema._zod.def as unknown as Record<string, unknown>
    if (def['type'] === 'object') for (const key of Object.keys(def['shape'] as object)) keys.add(key)
  }
  return keys
}
