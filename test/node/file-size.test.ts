/**
 * No module under `src/` is longer than 400 lines (issue 18): a file that grows past it has
 * become two things and is split by what each part owns. Generated files are exempt.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const MAX_LINES = 400

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return modules(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.gen.ts') ? [path] : []
  })
}

describe('src/', () => {
  it(`has no module over ${MAX_LINES} lines`, () => {
    const files = modules('src')
    expect(files.length).toBeGreaterThan(100)
    const long = files
      .map((file) => ({ file, lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
      .filter(({ lines }) => lines > MAX_LINES)
    expect(long).toEqual([])
  })
})
