// Builds dist/esm (ES modules) and dist/cjs (CommonJS), each with its type declarations, from
// src/ with the TypeScript compiler alone. dist/cjs gets a package.json saying "commonjs" so
// Node reads its .js files as CommonJS inside this "type": "module" package.
import { execFileSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc')
rmSync(join(root, 'dist'), { recursive: true, force: true })
for (const config of ['tsconfig.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', join(root, config)], { stdio: 'inherit' })
}
writeFileSync(join(root, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n')
