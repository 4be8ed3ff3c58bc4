import { formatError, type CompileResult } from '../policy/compiler/compile.ts'
import { compilePoliciesWithKeys } from '../policy/compiler/key-imports.ts'
import { readPolicyDir } from '../policy/compiler/node-files.ts'
import { explain, type InvokerSpec } from '../policy/explain.ts'
import { runFixture } from '../policy/fixtures.ts'

async function compileOrReport(dir: string): Promise<Extract<CompileResult, { ok: true }> | null> {
  const result = await compilePoliciesWithKeys(readPolicyDir(dir))
  if (result.ok) return result
  for (const error of result.errors) console.error(formatError(error))
  return null
}

export async function checkCommand(dir: string): Promise<number> {
  const compiled = await compileOrReport(dir)
  if (!compiled) return 1
  let failed = 0
  for (const fixture of compiled.fixtures) {
    const result = runFixture(compiled.policy, fixture)
    if (result.passed) continue
    failed++
    console.error(`${fixture.file}:${fixture.line}: ${fixture.name}\n  ${result.mismatches.join('\n  ')}`)
  }
  const packs = compiled.policy.packs.length
  console.log(`${packs} pack(s) valid; fixtures: ${compiled.fixtures.length - failed} passed, ${failed} failed`)
  return failed === 0 ? 0 : 1
}

export async function explainCommand(
  dir: string,
  options: { url?: string; method: string; 'api-key'?: string; anonymous?: boolean; ip: string; invoker?: string; tool?: string },
): Promise<number> {
  if (!options.url) throw new Error('explain needs --url')
  const compiled = await compileOrReport(dir)
  if (!compiled) return 1
  let who: InvokerSpec
  if (options['api-key']) who = { api_key: options['api-key'] }
  else if (options.anonymous) who = { anonymous: true, ip: options.ip }
  else if (options.invoker) {
    const parsed = JSON.parse(options.invoker) as Partial<Extract<InvokerSpec, { id: string }>>
    if (!parsed.id || !parsed.kind) throw new Error('--invoker needs at least {"id":…,"kind":…}')
    who = { id: parsed.id, kind: parsed.kind, meta: parsed.meta ?? {}, method: parsed.method ?? 'bearer', ...(parsed.label ? { label: parsed.label } : {}) }
  } else throw new Error('explain needs --api-key, --anonymous or --invoker')
  const result = explain(compiled.policy, { method: options.method, url: options.url, tool: options.tool }, who, Math.floor(Date.now() / 1000))
  console.log(JSON.stringify(result, null, 2))
  return 0
}
