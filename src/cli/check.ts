import { formatError, type CompileResult } from '../policy/compiler/compile.ts'
import { compilePoliciesWithKeys } from '../policy/compiler/key-imports.ts'
import { readPolicyDir } from '../policy/compiler/node-files.ts'
import { explain, type InvokerSpec } from '../policy/explain.ts'
import { runFixture } from '../policy/fixtures.ts'
import type { CompiledPolicy } from '../policy/types.ts'
import { matchRoute } from '../pipeline/route/match.ts'

type InvokerMethod = Extract<InvokerSpec, { id: string }>['method']

/** How an invoker given as JSON can have authenticated (API keys and anonymous callers have their own options). */
const INVOKER_METHODS: InvokerMethod[] = ['bearer', 'session', 'envelope']

/**
 * The auth method of an `--invoker` without one: the only one the routed pack accepts besides
 * API keys. When the pack accepts several, the answer depends on which, so the user must say.
 */
function invokerMethod(policy: CompiledPolicy, url: string): InvokerMethod {
  const routed = matchRoute(policy.packs, new URL(url))
  // Unrouted: the answer is 404 or 400 whatever the method.
  if (!routed.ok) return 'bearer'
  const pack = routed.match.pack
  const methods = INVOKER_METHODS.filter((m) => pack.auth.includes(m))
  if (methods.length === 1) return methods[0] as InvokerMethod
  if (methods.length === 0) {
    throw new Error(
      `pack ${pack.id} accepts ${pack.auth.length ? pack.auth.join(', ') : 'no credential'}${pack.anonymous ? ' and anonymous callers' : ''}: explain it with ${pack.auth.includes('api_key') ? '--api-key NAME' : ''}${pack.auth.includes('api_key') && pack.anonymous ? ' or ' : ''}${pack.anonymous ? '--anonymous' : ''}`,
    )
  }
  throw new Error(
    `pack ${pack.id} accepts ${methods.join(', ')}: say which in --invoker, e.g. '{"id":"…","kind":"…","method":"${methods[0]}"}'`,
  )
}

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
  options: {
    url?: string
    method: string
    'api-key'?: string
    anonymous?: boolean
    ip: string
    invoker?: string
    signer?: string
    'on-behalf-of'?: string
    tool?: string
  },
): Promise<number> {
  if (!options.url) throw new Error('explain needs --url')
  const compiled = await compileOrReport(dir)
  if (!compiled) return 1
  let who: InvokerSpec
  if (options['api-key']) who = { api_key: options['api-key'] }
  else if (options.anonymous) who = { anonymous: true, ip: options.ip }
  else if (options.signer)
    who = {
      signer: options.signer,
      ...(options['on-behalf-of'] !== undefined ? { on_behalf_of: options['on-behalf-of'] } : {}),
    }
  else if (options.invoker) {
    const parsed = JSON.parse(options.invoker) as Partial<Extract<InvokerSpec, { id: string }>>
    if (!parsed.id || !parsed.kind) throw new Error('--invoker needs at least {"id":…,"kind":…}')
    const method = parsed.method ?? invokerMethod(compiled.policy, options.url)
    if (!INVOKER_METHODS.includes(method))
      throw new Error(
        `"method" in --invoker is one of ${INVOKER_METHODS.join(', ')} (for an API key, use --api-key NAME)`,
      )
    who = {
      id: parsed.id,
      kind: parsed.kind,
      meta: parsed.meta ?? {},
      method,
      ...(parsed.label ? { label: parsed.label } : {}),
    }
  } else throw new Error('explain needs --api-key, --anonymous, --signer or --invoker')
  const result = explain(
    compiled.policy,
    { method: options.method, url: options.url, tool: options.tool },
    who,
    Math.floor(Date.now() / 1000),
  )
  console.log(JSON.stringify(result, null, 2))
  return 0
}
