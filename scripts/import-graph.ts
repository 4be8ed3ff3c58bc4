/**
 * The import graph of `src/` (issue 18, item 3), read with the TypeScript compiler's own
 * pre-processor: every `import`, `import type`, `export … from` and `import()` counts, so a
 * type-only cycle is a cycle too. `npm test` runs `test/node/import-graph.test.ts` over it; run
 * it yourself to see the graph:
 *
 *   node scripts/import-graph.ts            # counts, cycles, and which step imports which
 *   node scripts/import-graph.ts --edges    # every edge, `from -> to`, one per line
 *
 * Written here rather than with madge: the graph is a few lines over the compiler the project
 * already has, and madge's resolvers would be one more dependency tree to keep.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

export interface ImportGraph {
  /** Module → the modules it imports, as paths relative to the root (`app.ts`, `pipeline/route/index.ts`). */
  edges: Map<string, string[]>
}

/** Every `.ts` module under `root` (tests and generated files included), with its local imports. */
export function importGraph(root: string): ImportGraph {
  const edges = new Map<string, string[]>()
  for (const file of walk(root)) {
    const text = readFileSync(file, 'utf8')
    const targets = new Set<string>()
    for (const imported of ts.preProcessFile(text, true, true).importedFiles) {
      if (!imported.fileName.startsWith('.')) continue
      targets.add(relative(root, resolveModule(resolve(dirname(file), imported.fileName))))
    }
    edges.set(relative(root, file), [...targets].sort())
  }
  return { edges }
}

/** `./x.ts` as written; `./x` and `./x.js` as the compiler resolves them (to `x.ts` or `x/index.ts`). */
function resolveModule(path: string): string {
  if (path.endsWith('.ts')) return path
  const base = path.replace(/\.js$/, '')
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(candidate)) return candidate
  return path
}

function walk(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...walk(path))
    else if (entry.name.endsWith('.ts')) out.push(path)
  }
  return out.sort()
}

/**
 * Cycles as a depth-first search meets them (one per back edge, as madge reports them), each
 * as the modules in import order; empty when the graph has none.
 */
export function cycles(graph: ImportGraph): string[][] {
  const found: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (node: string): void => {
    state.set(node, 'open')
    path.push(node)
    for (const next of graph.edges.get(node) ?? []) {
      const seen = state.get(next)
      if (seen === 'open') found.push(path.slice(path.indexOf(next)))
      else if (seen === undefined && graph.edges.has(next)) visit(next)
    }
    path.pop()
    state.set(node, 'done')
  }
  for (const node of graph.edges.keys()) if (!state.has(node)) visit(node)
  return found
}

/** The step a module belongs to (`route` for `pipeline/route/match.ts`), or null outside `pipeline/`. */
export function stepOf(module: string): string | null {
  const parts = module.split('/')
  return parts[0] === 'pipeline' && parts.length > 2 ? (parts[1] as string) : null
}

/** Imports from one step's folder into another's, `from -> to`. */
export function crossStepImports(graph: ImportGraph): string[] {
  const out: string[] = []
  for (const [from, targets] of graph.edges) {
    const step = stepOf(from)
    if (step === null) continue
    for (const to of targets) {
      const other = stepOf(to)
      if (other !== null && other !== step) out.push(`${from} -> ${to}`)
    }
  }
  return out
}

/** Imports from modules outside `pipeline/` (the app aside) into a step's folder, `from -> to`. */
export function sharedIntoStepImports(graph: ImportGraph, allowed: (from: string) => boolean): string[] {
  const out: string[] = []
  for (const [from, targets] of graph.edges) {
    if (stepOf(from) !== null || allowed(from)) continue
    for (const to of targets) if (stepOf(to) !== null) out.push(`${from} -> ${to}`)
  }
  return out
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../src')
  const graph = importGraph(root)
  if (process.argv.includes('--edges')) {
    for (const [from, targets] of graph.edges) for (const to of targets) console.log(`${from} -> ${to}`)
  } else {
    const found = cycles(graph)
    const crossing = crossStepImports(graph)
    let count = 0
    for (const targets of graph.edges.values()) count += targets.length
    console.log(
      `src/: ${graph.edges.size} modules, ${count} imports, ${found.length} cycles, ${crossing.length} imports from one step into another`,
    )
    for (const cycle of found) console.log(`cycle: ${[...cycle, cycle[0]].join(' -> ')}`)
    for (const edge of crossing) console.log(`step into step: ${edge}`)
  }
}
