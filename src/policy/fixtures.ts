/**
 * Decision fixtures: policy authors keep `policies/tests/*.yaml` next to their policies
 * (request + invoker → expected decision); `npm test` and `invoker-gateway check` run them
 * offline through {@link explain}, so a policy change is tested before it deploys.
 *
 * @module
 */
import type { LoadedFixture } from './compiler/compile.ts'
import { explain, type Explanation, type InvokerSpec } from './explain.ts'
import type { CompiledPolicy } from './types.ts'

export interface FixtureResult {
  fixture: LoadedFixture
  passed: boolean
  actual: Explanation
  mismatches: string[]
}

export function runFixture(policy: CompiledPolicy, fixture: LoadedFixture): FixtureResult {
  const at = fixture.at ? Date.parse(fixture.at) : Date.now()
  const actual = explain(policy, fixture.request, fixture.invoker as InvokerSpec, Math.floor(at / 1000))
  const mismatches: string[] = []
  const { expect } = fixture
  if (actual.decision !== expect.decision)
    mismatches.push(`decision: expected ${expect.decision}, got ${actual.decision} (${actual.reason})`)
  if (expect.pack !== undefined && actual.pack !== expect.pack)
    mismatches.push(`pack: expected ${expect.pack}, got ${actual.pack}`)
  if (expect.agent !== undefined && actual.agent !== expect.agent)
    mismatches.push(`agent: expected ${expect.agent}, got ${actual.agent}`)
  if (expect.reason !== undefined && actual.reason !== expect.reason)
    mismatches.push(`reason: expected ${expect.reason}, got ${actual.reason}`)
  return { fixture, passed: mismatches.length === 0, actual, mismatches }
}
