/**
 * A pack's rules: allow and deny entries (each field a literal or a glob, never a regular
 * expression built from policy text) and rate limits (window, key, conditions). Build time only.
 *
 * @module
 */
import { DEFAULT_LOCAL_FRACTION } from '../../constants.ts'
import type {
  AcceptedMethod,
  CompiledAgent,
  CompiledRateLimit,
  CompiledRule,
  RateLimitKeySource,
  RuleField,
} from '../types.ts'
import { META_FIELD } from '../patterns.ts'
import { compilePattern, kindProblem, methodPatterns, whenMethods } from './rule-values.ts'
import { GATEWAY_FILE, type Located, type Path, type PolicyError } from './located.ts'
import { didYouMean } from './messages.ts'
import { parseDuration, RULE_FIELDS, type RawPackFile, type RawRule } from './schema.ts'

const MIN_WINDOW_MS = 1_000
const MAX_WINDOW_MS = 86_400_000
const HTTP_METHOD = /^[A-Z]+$/
/** A rule on a meta field, or on a path into a nested one: `meta.team`, `meta.org.id`. */
const META_RULE_FIELD = new RegExp(`^meta\\.${META_FIELD}(\\.${META_FIELD})*$`)

export function compileRateLimits(
  raw: RawPackFile,
  auth: AcceptedMethod[],
  agents: CompiledAgent[],
  located: Located<RawPackFile>,
  errors: PolicyError[],
): CompiledRateLimit[] {
  const out: CompiledRateLimit[] = []
  const ids = new Set<string>()
  const agentNames = new Set(agents.map((a) => a.name))
  const list = (value: string | string[] | undefined): string[] | null =>
    value === undefined ? null : Array.isArray(value) ? value : [value]
  ;(raw.rate_limits ?? []).forEach((rule, i) => {
    const at = (...path: Path): Path => ['rate_limits', i, ...path]
    if (ids.has(rule.id)) errors.push(located.error(at('id'), `rate limit id "${rule.id}" is used twice in this pack`))
    ids.add(rule.id)
    const windowMs = parseDuration(rule.window)
    if (windowMs < MIN_WINDOW_MS || windowMs > MAX_WINDOW_MS) {
      errors.push(located.error(at('window'), 'a rate limit window is between 1s and 1d'))
    } else if (windowMs % 1000 !== 0) {
      errors.push(
        located.error(
          at('window'),
          'a rate limit window is a whole number of seconds (RateLimit headers count in seconds)',
        ),
      )
    }
    if (rule.by === 'api_key' && !auth.includes('api_key')) {
      errors.push(located.error(at('by'), 'by: api_key counts API keys, but this pack does not accept them'))
    }
    if (rule.by === 'agent' && agents.length === 0) {
      errors.push(located.error(at('by'), 'by: agent counts per agent, but this pack has no agents'))
    }
    const methods = list(rule.when?.method)?.map((m) => m.toUpperCase()) ?? null
    methods?.forEach((method, j) => {
      if (!HTTP_METHOD.test(method))
        errors.push(
          located.error(
            at('when', 'method', ...(Array.isArray(rule.when?.method) ? [j] : [])),
            `"${method}" is not an HTTP method`,
          ),
        )
    })
    if ((rule.by === 'tool' || rule.when?.tool !== undefined) && raw.protocol !== 'mcp') {
      errors.push(
        located.error(at(rule.by === 'tool' ? 'by' : 'when'), 'tools are known on MCP packs only (protocol: mcp)'),
      )
    }
    list(rule.when?.kind)?.forEach((kind, j) => {
      const problem = kindProblem(kind)
      if (problem !== null)
        errors.push(located.error(at('when', 'kind', ...(Array.isArray(rule.when?.kind) ? [j] : [])), problem))
    })
    const whenAgents = list(rule.when?.agent)
    whenAgents?.forEach((name, j) => {
      if (!agentNames.has(name)) {
        errors.push(
          located.error(
            at('when', 'agent', ...(Array.isArray(rule.when?.agent) ? [j] : [])),
            `no agent is named "${name}" in this pack${didYouMean(name, agentNames)}`,
          ),
        )
      }
    })
    if (rule.local_fraction !== undefined && rule.on_error !== 'local') {
      errors.push(located.error(at('local_fraction'), 'local_fraction applies only with on_error: local'))
    }
    out.push({
      id: rule.id,
      by: rule.by as RateLimitKeySource,
      limit: rule.limit,
      windowMs,
      algorithm: rule.algorithm,
      when: {
        kinds: list(rule.when?.kind)?.map((kind) => compilePattern(kind, false)) ?? null,
        methods: whenMethods(methods),
        agents: whenAgents,
        tools: list(rule.when?.tool)?.map((tool) => compilePattern(tool, false)),
      },
      onError: rule.on_error,
      localLimit: Math.max(1, Math.floor(rule.limit * (rule.local_fraction ?? DEFAULT_LOCAL_FRACTION))),
    })
  })
  return out
}

export function compileRule(
  rule: RawRule,
  path: Path,
  located: Located<RawPackFile>,
  declaredKeyNames: ReadonlySet<string>,
  errors: PolicyError[],
): CompiledRule {
  const ref = path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
  const conditions: CompiledRule['conditions'] = []
  const entries = Object.entries(rule).filter(([, value]) => value !== undefined)
  if (entries.length === 0)
    errors.push(located.error(path, 'an empty rule would match everyone; write { kind: "*" } if that is meant'))
  for (const [field, value] of entries) {
    const known = (RULE_FIELDS as readonly string[]).includes(field)
    if (!known && !META_RULE_FIELD.test(field)) {
      const hint = didYouMean(field, RULE_FIELDS) || ` (use ${RULE_FIELDS.join(', ')} or meta.<field>)`
      errors.push(located.error([...path, field], `unknown rule field "${field}"${hint}`, true))
      continue
    }
    const values = (Array.isArray(value) ? value : [value]).map(String)
    if (field === 'api_key') {
      for (const name of values) {
        if (!name.includes('*') && !declaredKeyNames.has(name)) {
          errors.push(
            located.error(
              [...path, field],
              `no API key is named "${name}" in ${GATEWAY_FILE}${didYouMean(name, declaredKeyNames)}`,
            ),
          )
        }
      }
    }
    if (field === 'kind')
      values.forEach((kind, i) => {
        const problem = kindProblem(kind)
        if (problem !== null)
          errors.push(located.error(Array.isArray(value) ? [...path, field, i] : [...path, field], problem))
      })
    const patterns =
      field === 'method' ? methodPatterns(values) : values.map((v) => compilePattern(v, field === 'email'))
    conditions.push({ field: field as RuleField, patterns })
  }
  return { ref, conditions }
}
