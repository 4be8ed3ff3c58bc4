/** The policies shipped in this repository: they compile, their fixtures hold, their schemas are current. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { renderModule, schemaFiles } from '../../src/cli/build-policies.ts'
import { compilePolicies } from '../../src/policy/compiler/compile.ts'
import { readPolicyDir } from '../../src/policy/compiler/node-files.ts'
import { runFixture } from '../../src/policy/fixtures.ts'

const result = compilePolicies(readPolicyDir('policies', { DEMO_BACKEND_PORT: undefined }))
if (!result.ok) throw new Error(JSON.stringify(result.errors))

describe('policies/', () => {
  it('compiles', () => {
    expect(result.policy.packs.map((p) => p.id).sort()).toEqual(['crm', 'echo', 'public', 'tools'])
  })

  describe.each(result.fixtures.map((f) => [`${f.file}:${f.line} ${f.name}`, f] as const))(
    'fixture %s',
    (_, fixture) => {
      it('decides as expected', () => {
        const outcome = runFixture(result.policy, fixture)
        expect(outcome.mismatches).toEqual([])
      })
    },
  )

  it('ships JSON Schemas generated from the same definitions the compiler validates with', () => {
    for (const [path, text] of Object.entries(schemaFiles('policies')))
      expect(readFileSync(path, 'utf8'), path).toBe(text)
  })

  it('points every policy file at its schema', () => {
    for (const file of readPolicyDir('policies').policies)
      expect(file.text, file.path).toMatch(/^# yaml-language-server: \$schema=\.\/schema\/(gateway|pack)\.schema\.json/)
  })

  it('builds the module the Worker imports from them', () => {
    const module = renderModule(result.policy)
    expect(module).toContain('export const compiledPolicy: CompiledPolicy = {')
    expect(module).not.toMatch(/from 'yaml'|from 'zod'/)
  })
})
