/**
 * Where a policy error is: files parsed with their line counter, so a path inside a document
 * (`['issuers', 'acme', 'jwks_uri']`) becomes `file:line:col`. Every section of the compiler
 * reports through {@link Located.error}; YAML and schema errors are put in the gateway's words
 * by messages.ts.
 *
 * @module
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml'
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

  /** The text a scalar at `path` was written as (`007`, `0x10`), or `undefined` when there is none. */
  sourceAt(path: Path): string | undefined {
    let node: unknown = this.doc.contents
    for (const step of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === step)
        node = pair?.value
      } else if (isSeq(node) && typeof step === 'number') node = node.items[step]
      else return undefined
    }
    return isScalar(node) ? node.source : undefined
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

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** An error at a path inside a policy file, for checks that run after compiling (key imports). */
export function errorAt(file: SourceFile, path: Path, message: string): PolicyError {
  const lines = new LineCounter()
  const doc = parseDocument(file.text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
  return new Located(file.path, doc, lines, undefined).error(path, message)
}
