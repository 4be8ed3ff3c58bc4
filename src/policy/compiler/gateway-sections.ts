/**
 * The sections of `_gateway.yaml` that packs refer to by name: API keys, token issuers (and the
 * claims that make an invoker of a token), the browser session, and request signers. Each is
 * checked and compiled once, here; a pack only names them.
 *
 * @module
 */
import type { JsonValue } from '../../invoker.ts'
import type {
  ApiKeyRecord,
  ClaimMapping,
  CompiledIssuer,
  CompiledSession,
  CompiledSigner,
  SignatureAlgorithm,
  SignerInvoker,
} from '../types.ts'
import { hasShape, shapeText } from '../../keys/jwk-shapes.ts'
import { SIGNATURE_ALGORITHM_TABLE } from '../../pipeline/authenticate/envelope/algorithm-table.ts'
import type { Located, Path, PolicyError } from './located.ts'
import { didYouMean } from './messages.ts'
import { parseDuration, type RawClaimMapping, type RawGatewayFile, type RawSigner } from './schema.ts'
import { parseInstant } from './instant.ts'

export function compileApiKeys(gateway: Located<RawGatewayFile>, errors: PolicyError[]): Record<string, ApiKeyRecord> {
  const out: Record<string, ApiKeyRecord> = {}
  const byKeyId = new Map<string, string>()
  for (const [name, key] of Object.entries(gateway.value.api_keys)) {
    const clash = byKeyId.get(key.key_id)
    if (clash) {
      errors.push(gateway.error(['api_keys', name, 'key_id'], `key_id "${key.key_id}" is already used by "${clash}"`))
      continue
    }
    byKeyId.set(key.key_id, name)
    let expiresAt: number | null = null
    if (key.expires !== undefined) {
      const time = key.expires instanceof Date ? key.expires.getTime() : parseInstant(key.expires)
      if (time === null || Number.isNaN(time)) {
        errors.push(
          gateway.error(
            ['api_keys', name, 'expires'],
            'expires is not an ISO 8601 date (2027-06-30) or date-time with an offset (2027-06-30T10:00:00Z)',
          ),
        )
        continue
      }
      expiresAt = Math.floor(time / 1000)
    }
    const invoker = key.invoker
    out[key.key_id] = {
      name,
      keyId: key.key_id,
      sha256: key.sha256,
      packs: key.packs ?? null,
      expiresAt,
      revoked: key.revoked,
      invoker: {
        id: invoker.id ?? `apikey:${name}`,
        kind: invoker.kind,
        ...(invoker.label !== undefined ? { label: invoker.label } : { label: name }),
        meta: invoker.meta as ApiKeyRecord['invoker']['meta'],
      },
    }
  }
  return out
}

export function signerInvoker(raw: RawSigner['invoker'], defaultId: string): SignerInvoker {
  return {
    id: raw.id ?? defaultId,
    kind: raw.kind,
    ...(raw.label !== undefined ? { label: raw.label } : {}),
    meta: raw.meta as Record<string, JsonValue>,
  }
}

export function compileSigners(
  gateway: Located<RawGatewayFile>,
  errors: PolicyError[],
): Record<string, CompiledSigner> {
  const out: Record<string, CompiledSigner> = {}
  const byKeyId = new Map<string, string>()
  for (const [name, raw] of Object.entries(gateway.value.signers)) {
    const at = (...path: Path): Path => ['signers', name, ...path]
    const before = errors.length
    const clash = byKeyId.get(raw.keyid)
    if (clash) errors.push(gateway.error(at('keyid'), `keyid "${raw.keyid}" is already used by signer "${clash}"`))
    byKeyId.set(raw.keyid, name)
    if (raw.algorithm === 'hmac-sha256') {
      if (raw.secret === undefined)
        errors.push(gateway.error(at('algorithm'), 'hmac-sha256 needs secret: NAME (a Worker secret holding the key)'))
      if (raw.jwk !== undefined) errors.push(gateway.error(at('jwk'), 'an HMAC signer has a secret, not a jwk', true))
    } else {
      if (raw.secret !== undefined)
        errors.push(
          gateway.error(at('secret'), `${raw.algorithm} verifies with a public key (jwk), not a secret`, true),
        )
      if (raw.jwk === undefined)
        errors.push(gateway.error(at('algorithm'), `${raw.algorithm} needs the signer's public key under jwk`))
      else {
        const problem = jwkProblem(raw.jwk, raw.algorithm)
        if (problem) errors.push(gateway.error(at('jwk'), problem))
      }
    }
    if (errors.length > before) continue
    out[name] = {
      name,
      keyId: raw.keyid,
      algorithm: raw.algorithm,
      jwk: (raw.jwk as Record<string, JsonValue> | undefined) ?? null,
      secretName: raw.secret ?? null,
      delegate: raw.delegate,
      delegatedIdPrefix: raw.delegate ? (raw.id_prefix ?? `${raw.invoker.id ?? `signer:${name}`}:`) : null,
      invoker: signerInvoker(raw.invoker, `signer:${name}`),
    }
  }
  return out
}

/** A public key of the type the algorithm needs, without private members. */
function jwkProblem(jwk: Record<string, unknown>, algorithm: SignatureAlgorithm): string | null {
  if ('d' in jwk || 'p' in jwk || 'k' in jwk)
    return 'jwk is a public key: remove the private or symmetric members (d, p, k)'
  const { key } = SIGNATURE_ALGORITHM_TABLE[algorithm]
  if (!hasShape(jwk, key)) return `${algorithm} needs a ${shapeText(key)} key`
  return null
}

const HMAC_ALGORITHMS = new Set(['HS256', 'HS384', 'HS512'])

export function httpUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return (url.protocol === 'https:' || url.protocol === 'http:') && !url.username && !url.password && !url.hash
  } catch {
    return false
  }
}

export function compileClaims(
  raw: RawClaimMapping,
  defaults: { id: string[]; kind: string; label?: string; email?: string },
): ClaimMapping {
  const path = (claim: string): string[] => claim.split('.')
  const ids = raw.id === undefined ? defaults.id : Array.isArray(raw.id) ? raw.id : [raw.id]
  const label = raw.label ?? defaults.label
  const email = raw.email ?? defaults.email
  return {
    id: ids.map(path),
    idPrefix: raw.id_prefix,
    // Filled once the signers' namespaces are known (id-namespaces.ts).
    reservedIdPrefixes: [],
    reservedIds: [],
    kind: raw.kind ?? defaults.kind,
    label: label === undefined ? null : path(label),
    email: email === undefined ? null : path(email),
    meta: Object.entries(raw.meta).map(([field, claim]) => ({ field, path: path(claim) })),
  }
}

export function compileIssuers(
  gateway: Located<RawGatewayFile>,
  errors: PolicyError[],
): Record<string, CompiledIssuer> {
  const out: Record<string, CompiledIssuer> = {}
  const byIss = new Map<string, string>()
  for (const [name, raw] of Object.entries(gateway.value.issuers)) {
    const at = (...path: Path): Path => ['issuers', name, ...path]
    const before = errors.length
    const clash = byIss.get(raw.issuer)
    if (clash)
      errors.push(
        gateway.error(
          at('issuer'),
          `issuer "${raw.issuer}" is already configured as "${clash}": a token's iss must pick one configuration`,
        ),
      )
    byIss.set(raw.issuer, name)
    const sources = (['jwks_uri', 'jwks', 'secret'] as const).filter((key) => raw[key] !== undefined)
    if (sources.length > 1)
      errors.push(
        gateway.error(
          at(sources[1] as string),
          `an issuer has one key source; this one names ${sources.join(' and ')}`,
          true,
        ),
      )
    if (sources.length === 0 && !raw.introspection)
      errors.push(gateway.error(at(), 'an issuer needs a key source (jwks_uri, jwks or secret) or introspection'))
    const hmac = raw.algorithms.filter((alg) => HMAC_ALGORITHMS.has(alg))
    if (raw.secret !== undefined && hmac.length !== raw.algorithms.length) {
      errors.push(gateway.error(at('algorithms'), 'a shared secret verifies only HS256, HS384 or HS512'))
    }
    if (raw.secret === undefined && hmac.length > 0) {
      // The classic confusion: a public key used as an HMAC secret. Only a secret may verify HS*.
      errors.push(
        gateway.error(
          at('algorithms'),
          `${hmac.join(', ')} needs a shared secret (secret: NAME); public keys never verify HMAC`,
        ),
      )
    }
    if (raw.jwks_uri !== undefined && !httpUrl(raw.jwks_uri))
      errors.push(gateway.error(at('jwks_uri'), 'jwks_uri is an http(s) URL'))
    raw.jwks?.keys.forEach((key, i) => {
      if ('d' in key || 'k' in key || 'p' in key)
        errors.push(
          gateway.error(
            at('jwks', 'keys', i),
            'inline keys are public keys: remove the private or symmetric members (d, p, k)',
          ),
        )
      if (typeof key['kty'] !== 'string') errors.push(gateway.error(at('jwks', 'keys', i), 'a JWK needs kty'))
    })
    if (raw.introspection && !httpUrl(raw.introspection.endpoint))
      errors.push(gateway.error(at('introspection', 'endpoint'), 'the introspection endpoint is an http(s) URL'))
    if (errors.length > before) continue
    const cache = raw.jwks_cache
    out[name] = {
      name,
      issuer: raw.issuer,
      audiences: raw.audience === undefined ? [] : Array.isArray(raw.audience) ? [...raw.audience] : [raw.audience],
      algorithms: raw.algorithms,
      typ: raw.typ ?? null,
      clockToleranceSeconds: Math.round(parseDuration(raw.clock_tolerance) / 1000),
      maxTokenAgeSeconds: raw.max_token_age === undefined ? null : Math.round(parseDuration(raw.max_token_age) / 1000),
      keys:
        raw.jwks_uri !== undefined
          ? {
              source: 'jwks_uri',
              url: raw.jwks_uri,
              maxAgeMs: parseDuration(cache.max_age),
              cooldownMs: parseDuration(cache.cooldown),
              staleMs: parseDuration(cache.stale),
              timeoutMs: parseDuration(cache.timeout),
            }
          : raw.jwks !== undefined
            ? { source: 'jwks', jwks: raw.jwks as { keys: Array<Record<string, JsonValue>> } }
            : raw.secret !== undefined
              ? { source: 'secret', secretName: raw.secret }
              : null,
      introspection: raw.introspection
        ? {
            endpoint: raw.introspection.endpoint,
            clientId: raw.introspection.client_id,
            clientSecretName: raw.introspection.client_secret,
            cacheTtlMs: parseDuration(raw.introspection.cache_ttl),
            negativeTtlMs: parseDuration(raw.introspection.negative_ttl),
            timeoutMs: parseDuration(raw.introspection.timeout),
          }
        : null,
      claims: compileClaims(raw.claims, { id: ['sub', 'client_id'], kind: 'service' }),
      mcpResources: [],
    }
  }
  return out
}

export function compileSession(
  gateway: Located<RawGatewayFile>,
  issuers: Record<string, CompiledIssuer>,
  errors: PolicyError[],
): CompiledSession | null {
  const raw = gateway.value.session
  if (!raw) return null
  if ((raw.jwt === undefined) === (raw.introspection === undefined)) {
    errors.push(gateway.error(['session'], 'a session is verified one way: give either jwt or introspection'))
    return null
  }
  if (raw.jwt) {
    if (!(raw.jwt.issuer in issuers)) {
      // An issuer that is there but failed has its own error.
      const declared = Object.keys(gateway.value.issuers)
      if (!declared.includes(raw.jwt.issuer))
        errors.push(
          gateway.error(
            ['session', 'jwt', 'issuer'],
            `no issuer is named "${raw.jwt.issuer}" under issuers${didYouMean(raw.jwt.issuer, declared)}`,
          ),
        )
      return null
    }
    // The issuer's own claim mapping, but a cookie stands for a signed-in user unless it says otherwise.
    const claims = compileClaims(gateway.value.issuers[raw.jwt.issuer]?.claims ?? { id_prefix: '', meta: {} }, {
      id: ['sub'],
      kind: 'authUser',
    })
    return { cookies: raw.cookies, verify: { by: 'jwt', issuer: raw.jwt.issuer, claims } }
  }
  const introspection = raw.introspection as NonNullable<typeof raw.introspection>
  if (!httpUrl(introspection.endpoint)) {
    errors.push(gateway.error(['session', 'introspection', 'endpoint'], 'the session endpoint is an http(s) URL'))
    return null
  }
  return {
    cookies: raw.cookies,
    verify: {
      by: 'introspection',
      endpoint: introspection.endpoint,
      cacheTtlMs: parseDuration(introspection.cache_ttl),
      negativeTtlMs: parseDuration(introspection.negative_ttl),
      timeoutMs: parseDuration(introspection.timeout),
      // Better Auth's get-session answer: { session: {...}, user: { id, email, name, ... } }.
      claims: compileClaims(introspection.claims, {
        id: ['user.id'],
        kind: 'authUser',
        label: 'user.name',
        email: 'user.email',
      }),
    },
  }
}
