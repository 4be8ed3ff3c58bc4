/** Reads a policy directory from disk (Node only; the compiler itself is pure). */
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { CompileInput, SourceFile } from './compile.ts'

export const FIXTURES_DIR = 'tests'

export function readPolicyDir(dir: string, env: Record<string, string | undefined> = process.env): CompileInput {
  const read = (folder: string): SourceFile[] =>
    existsSync(folder)
      ? readdirSync(folder)
          .filter((name) => /\.ya?ml$/.test(name))
          .sort()
          .map((name) => {
            const path = join(folder, name)
            return { path: relative(process.cwd(), path) || path, text: readFileSync(path, 'utf8') }
          })
      : []
  return { policies: read(dir), fixtures: read(join(dir, FIXTURES_DIR)), env }
}
