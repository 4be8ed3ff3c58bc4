/** Compiles inline YAML policies with the real compiler (works in workerd and in Node). */
import { compilePolicies, formatError, type CompileResult } from '../../src/policy/compiler/compile.ts'
import type { CompiledPolicy } from '../../src/policy/types.ts'

export const TEST_GATEWAY = `
issuer: https://gateway.test
api_keys: {}
`

export function compileYaml(
  packs: Record<string, string>,
  gateway: string = TEST_GATEWAY,
  env: Record<string, string> = {},
): Extract<CompileResult, { ok: true }> {
  const result = compilePolicies({
    policies: [
      { path: 'policies/_gateway.yaml', text: gateway },
      ...Object.entries(packs).map(([id, text]) => ({ path: `policies/${id}.yaml`, text })),
    ],
    env,
  })
  if (!result.ok) throw new Error(result.errors.map(formatError).join('\n'))
  return result
}

export function compileErrors(
  packs: Record<string, string>,
  gateway: string = TEST_GATEWAY,
  env: Record<string, string> = {},
): string[] {
  const result = compilePolicies({
    policies: [
      { path: 'policies/_gateway.yaml', text: gateway },
      ...Object.entries(packs).map(([id, text]) => ({ path: `policies/${id}.yaml`, text })),
    ],
    env,
  })
  return result.ok ? [] : result.errors.map(formatError)
}

export function policyOf(packs: Record<string, string>, gateway?: string): CompiledPolicy {
  return compileYaml(packs, gateway).policy
}
