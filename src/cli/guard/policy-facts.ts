/**
 * What the deploy guard reads off a compiled policy or a source file beyond the compiler's own
 * output: whether a pack's limits count anonymous callers, a pack's `allow_http_upstream`, and
 * the Worker secrets the policy names.
 *
 * @module
 */
import { parse } from 'yaml'
import type { SourceFile } from '../../policy/compiler/compile.ts'
import { patternMatches } from '../../policy/rules.ts'
import type { CompiledPack, CompiledPolicy } from '../../policy/types.ts'

/** A rule that counts every anonymous request of the pack (no method or agent condition). */
export function limitsAnonymous(pack: CompiledPack): boolean {
  return pack.rateLimits.some(
    (rule) =>
      (rule.when.kinds === null || rule.when.kinds.some((pattern) => patternMatches(pattern, 'anonymous'))) &&
      rule.when.methods === null &&
      rule.when.agents === null &&
      (rule.by === 'ip' || rule.by === 'invoker' || rule.by === 'pack'),
  )
}

/** `allow_http_upstream` is for the guard only: the compiler validates it, the Worker never sees it. */
export function httpAllowance(source: SourceFile): string | null {
  const raw = parse(source.text) as { allow_http_upstream?: unknown } | null
  return typeof raw?.allow_http_upstream === 'string' ? raw.allow_http_upstream : null
}

/** Worker secrets the policy names (HS256 issuers, introspection clients, HMAC signers). */
export function namedSecrets(
  policy: CompiledPolicy,
): Array<{ name: string; where: (string | number)[]; what: string }> {
  const out: Array<{ name: string; where: (string | number)[]; what: string }> = []
  for (const issuer of Object.values(policy.issuers)) {
    if (issuer.keys?.source === 'secret')
      out.push({
        name: issuer.keys.secretName,
        where: ['issuers', issuer.name, 'secret'],
        what: `issuers.${issuer.name}`,
      })
    if (issuer.introspection) {
      out.push({
        name: issuer.introspection.clientSecretName,
        where: ['issuers', issuer.name, 'introspection', 'client_secret'],
        what: `issuers.${issuer.name}.introspection`,
      })
    }
  }
  for (const signer of Object.values(policy.signers)) {
    if (signer.secretName)
      out.push({ name: signer.secretName, where: ['signers', signer.name, 'secret'], what: `signers.${signer.name}` })
  }
  return out
}
