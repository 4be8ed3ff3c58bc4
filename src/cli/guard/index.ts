/**
 * `check --production` and the first half of `npm run deploy`: validate the policies, run the
 * decision fixtures, then the deploy guard, and print one list of what stops the deploy.
 *
 * @module
 */
import { formatError } from '../../policy/compiler/compile.ts'
import { readPolicyDir } from '../../policy/compiler/node-files.ts'
import { runFixture } from '../../policy/fixtures.ts'
import { runGuard, type SecretNames } from './checks.ts'
import { listWorkerSecrets } from './secrets.ts'

export interface ProductionCheckOptions {
  /** The policy directory the build compiles (`policies`). */
  policies: string
  /** wrangler's `--env`, for the secrets of that environment. */
  env?: string | undefined
  /** For tests: the secrets answer, instead of asking wrangler. */
  secrets?: SecretNames
}

/** 0 when the policies may be deployed; 1 when something refuses them. */
export async function productionCheck(options: ProductionCheckOptions): Promise<number> {
  const secrets = options.secrets ?? (await listWorkerSecrets(options.env))
  const result = runGuard(readPolicyDir(options.policies), { nowSeconds: Math.floor(Date.now() / 1000), secrets })
  if (!result.ok) {
    for (const error of result.errors) console.error(formatError(error))
    console.error(`deploy refused: ${result.errors.length} policy error(s)`)
    return 1
  }
  let failedFixtures = 0
  for (const fixture of result.fixtures) {
    const outcome = runFixture(result.policy, fixture)
    if (outcome.passed) continue
    failedFixtures++
    console.error(
      `${fixture.file}:${fixture.line}: fixture "${fixture.name}" fails\n  ${outcome.mismatches.join('\n  ')}`,
    )
  }
  const refusals = result.findings.filter((f) => f.level === 'refuse')
  const warnings = result.findings.filter((f) => f.level === 'warn')
  console.error(
    `deploy guard${options.env ? ` (env ${options.env})` : ''}: ${result.policy.packs.length} pack(s); fixtures ${result.fixtures.length - failedFixtures} passed, ${failedFixtures} failed; ${refusals.length} refusal(s), ${warnings.length} warning(s)`,
  )
  for (const finding of result.findings)
    console.error(`  ${finding.level === 'refuse' ? 'REFUSE' : 'warn  '}  ${finding.where}  ${finding.message}`)
  for (const line of result.unchecked) console.error(`  not checked  ${line}`)
  if (refusals.length > 0 || failedFixtures > 0) {
    console.error('deploy refused: fix the entries above. (`npx wrangler deploy` deploys without this guard.)')
    return 1
  }
  console.error('deploy guard: nothing refuses this deploy.')
  return 0
}
