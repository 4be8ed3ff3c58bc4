/**
 * Where a policy error is: files parsed with their line counter, so a path inside a document
 * (`['issuers', 'acme', 'jwks_uri']`) becomes `file:line:col`. Every section of the compiler
 * reports through {@link Located.error}; YAML and schema errors are put in the gateway's words
 * by messages.ts.
 *
 * @module
 */
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node,
  type Scalar,
} from 'yaml'
import type { z } from 'zod'
import { schemaProblems, yamlErrors } from './messages.ts'

export interface SourceFile {
  /** Path as it should appear in messages, e.g. `policies/echo.yaml`. */
  path: string
  text: string
}

export interface PolicyError {
  file: string
  line: number
  col: number
  message: string
}

export const GATEWAY_FILE = '_gateway.yaml'

export function formatError(error: PolicyError): string {
  return `${error.file}:${error.line}:${error.col}: ${error.message}`
}

export type Path = readonly (string | number)[]

/** A parsed file that can turn a path inside the document into a line and column. */
export class Located<T> {
  readonly file: string
  readonly doc: Document
  readonly lines: LineCounter
  readonly value: T
  constructor(file: string, doc: Document, lines: LineCounter, value: T) {
    this.file = file
    this.doc = doc
    this.lines = lines
    this.value = value
  }

  error(path: Path, message: string, onKey = false): PolicyError {
    const offset = this.offsetOf(path, onKey)
    const { line, col } = this.lines.linePos(offset)
    return { file: this.file, line, col, message }
  }

  private offsetOf(path: Path, onKey: boolean): number {
    let node: unknown = this.doc.contents
    let offset = rangeStart(node)
    for (let i = 0; i < path.length; i++) {
      const step = path[i] as string | number
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === step)
        if (!pair) break
        const last = i === path.length - 1
        node = last && onKey ? pair.key : pair.value
        offset = rangeStart(node) ?? rangeStart(pair.key) ?? offset
      } else if (isSeq(node) && typeof step === 'number') {
        node = node.items[step]
        offset = rangeStart(node) ?? offset
      } else break
    }
    return offset ?? 0
  }
}

export function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0]
}

export function parseYaml<T>(file: SourceFile, schema: z.ZodType<T>, errors: PolicyError[]): Located<T> | null {
  const lines = new LineCounter()
  const doc = parseDocument(file.text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
  // `%YAML 1.1` would bring back merge keys, `yes`/`no` booleans and sexagesimal numbers: a
  // policy means what YAML 1.2 reads in it, and nothing else.
  if (doc.errors.length === 0 && doc.directives?.yaml.explicit === true && doc.directives.yaml.version !== '1.2') {
    errors.push({ file: file.path, line: 1, col: 1, message: 'policy files are YAML 1.2: remove the %YAML directive' })
    return null
  }
  if (doc.errors.length === 0) {
    const misread = misreadLiterals(doc)
    if (misread.length > 0) {
      for (const { offset, message } of misread) errors.push({ file: file.path, ...lines.linePos(offset), message })
      return null
    }
  }
  if (doc.errors.length > 0) {
    // In the gateway's words (messages.ts): which line is off, and how.
    for (const e of yamlErrors(doc.errors, file.text, lines)) errors.push({ file: file.path, ...e })
    return null
  }
  const raw: unknown = doc.toJS()
  const parsed = schema.safeParse(raw)
  const located = new Located(file.path, doc, lines, parsed.success ? parsed.data : (undefined as T))
  if (!parsed.success) {
    for (const problem of schemaProblems(parsed.error.issues, raw, schema))
      errors.push(located.error(problem.path, problem.message, problem.onKey))
    return null
  }
  return located
}

/** Sections whose values are text: an invoker's `meta`, and rules (`allow`, `deny` lists). */
const TEXT_SECTIONS = new Set(['meta', 'allow', 'deny'])

/**
 * Text YAML would turn into other text: a number or boolean whose JavaScript spelling is not the
 * one written (`007` → 7, `0x10` → 16, `1e3` → 1000, a 19-digit id → …800, `True` → true), where
 * the policy means text. Keys are always names (an MCP tool `007`, an API key, an agent); rule
 * values and `meta` values are matched as text, so a deny on `007` would silently match `7`.
 * Numbers that are numbers (`limit: 010`, `local_fraction: 0.50`) pass. An alias is judged where
 * its anchor is written.
 */
/** A pair that opens a text section. */
function opensText(node: unknown): boolean {
  return isPair(node) && isScalar(node.key) && TEXT_SECTIONS.has(node.key.value as string)
}

function misreadLiterals(doc: Document): Array<{ offset: number; message: string }> {
  const found: Array<{ offset: number; message: string }> = []
  const check = (node: unknown): void => {
    if (!isScalar(node)) return
    const scalar = node as Scalar
    const { value, source } = scalar
    if (typeof value === 'string' || source === undefined || value === null) return
    if (String(value) === source) return
    found.push({
      offset: scalar.range?.[0] ?? 0,
      message: `YAML reads ${source} as ${String(value)}: write "${source}" in quotes to keep that text`,
    })
  }
  visit(doc, {
    Pair(_, pair, path) {
      check(pair.key)
      if (opensText(pair) || path.some(opensText)) {
        if (isScalar(pair.value)) check(pair.value)
        else if (isSeq(pair.value)) for (const item of pair.value.items) check(item)
      }
    },
  })
  return found
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** An error at a path inside a policy file, for checks that run after compiling (key imports). */
export function errorAt(file: SourceFile, path: Path, message: string): PolicyError {
  const lines = new LineCounter()
  const doc = parseDocument(file.text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
  return new Located(file.path, doc, lines, undefined).error(path, message)
}
