/**
 * `file:line` for a path inside a policy file, so that each finding of the deploy guard points at
 * the line to change, as the compiler's errors do.
 *
 * @module
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml'
import type { SourceFile } from '../../policy/compiler/compile.ts'

export type Locate = (path: readonly (string | number)[]) => string

export function locator(file: SourceFile): Locate {
  const lines = new LineCounter()
  const doc = parseDocument(file.text, { lineCounter: lines })
  return (path) => {
    let node: unknown = doc.contents
    let offset: number | undefined
    for (const step of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === step)
        if (!pair) break
        offset = (pair.key as Node | null)?.range?.[0] ?? offset
        node = pair.value
      } else if (isSeq(node) && typeof step === 'number') {
        node = node.items[step]
        offset = (node as Node | null)?.range?.[0] ?? offset
      } else break
    }
    return offset === undefined ? file.path : `${file.path}:${lines.linePos(offset).line}`
  }
}
