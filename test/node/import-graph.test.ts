/**
 * The import graph of `src/` (issue 18, item 3): no import cycle, type-only imports included,
 * and no step folder (`src/pipeline/<step>/`) importing another; what several steps use lives in
 * shared modules (`src/http/`, `src/policy/`, `src/state.ts`). `node scripts/import-graph.ts`
 * prints the graph's counts and any offender.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { crossStepImports, cycles, importGraph } from '../../scripts/import-graph.ts'

const SRC = join(dirname(fileURLToPath(import.meta.url)), '../../src')

describe('the import graph of src/', () => {
  const graph = importGraph(SRC)

  it('reads the whole tree', () => {
    expect(graph.edges.size).toBeGreaterThan(100)
    expect(graph.edges.get('app.ts')).toContain('pipeline/route/index.ts')
  })

  it('has no import cycle (type-only imports count)', () => {
    expect(cycles(graph).map((cycle) => [...cycle, cycle[0]].join(' -> '))).toEqual([])
  })

  it('has no import from one step folder into another', () => {
    expect(crossStepImports(graph)).toEqual([])
  })
})

describe('the check itself, on a tree made to fail it', () => {
  const root = mkdtempSync(join(tmpdir(), 'import-graph-'))
  afterAll(() => rmSync(root, { recursive: true, force: true }))
  const write = (path: string, text: string): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }
  // env.ts ↔ store.ts through a type-only import (the shape of main's nine cycles through env.ts),
  // a three-module cycle through `export … from` and `import()`, extensionless and `.js` specifiers.
  write('env.ts', "import type { Store } from './store.ts'\nexport interface Env { store: Store }\n")
  write('store.ts', "import type { Env } from './env'\nexport type Store = (env: Env) => void\n")
  write('a.ts', "export { b } from './b.js'\n")
  write('b.ts', "export const b = () => import('./c/index.ts')\n")
  write('c/index.ts', "import { a } from '../a.ts'\nexport const c = a\n")
  write('acyclic.ts', "import { c } from './c'\nimport { x } from 'some-package'\nexport const d = [c, x]\n")
  // One step importing another, and a step importing a shared module (allowed).
  write(
    'pipeline/forward/index.ts',
    "import { clientAddress } from '../authenticate/anonymous.ts'\nimport { shared } from '../../http/request.ts'\n",
  )
  write(
    'pipeline/authenticate/anonymous.ts',
    "import { shared } from '../../http/request.ts'\nexport const clientAddress = shared\n",
  )
  write('pipeline/authenticate/bearer/verify.ts', "import { clientAddress } from '../anonymous.ts'\n")
  write('http/request.ts', 'export const shared = 1\n')
  const graph = importGraph(root)

  it('reports every cycle, type-only ones included', () => {
    const found = cycles(graph).map((cycle) => [...cycle].sort().join(' '))
    expect(found.sort()).toEqual(['a.ts b.ts c/index.ts', 'env.ts store.ts'])
  })

  it('reports an import from one step into another, and only that', () => {
    expect(crossStepImports(graph)).toEqual(['pipeline/forward/index.ts -> pipeline/authenticate/anonymous.ts'])
  })
})
