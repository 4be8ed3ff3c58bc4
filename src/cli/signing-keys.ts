import { readFileSync } from 'node:fs'
import { JWKS_CACHE_MAX_AGE_S } from '../constants.ts'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import { compilePolicies } from '../policy/compiler/compile.ts'
import { readPolicyDir } from '../policy/compiler/node-files.ts'
import { parseDuration } from '../policy/compiler/schema.ts'

/**
 * Prints a JWK set for `wrangler secret put INVOKER_SIGNING_KEYS`. With the current set as
 * `previous`, the new key signs and the old first key stays published, so backends holding
 * cached JWKS keep verifying during the roll-over.
 */
export async function generateSigningKeysCommand(alg: string, previous?: string): Promise<number> {
  if (alg !== 'EdDSA' && alg !== 'ES256') throw new Error('--alg is EdDSA or ES256')
  const { privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  })
  const jwk: JWK = {
    ...(await exportJWK(privateKey)),
    alg,
    kid: new Date().toISOString().slice(0, 10) + '-' + crypto.randomUUID().slice(0, 8),
  }
  const keys: JWK[] = [jwk]
  if (previous) {
    const old = (JSON.parse(previous) as { keys?: JWK[] }).keys?.[0]
    if (!old) throw new Error('--previous holds no key')
    keys.push(old)
  }
  console.log(JSON.stringify({ keys }))
  return 0
}

export interface RotateOptions {
  alg: string
  /** Where the keys published now come from: a URL or a file; `<issuer>/.well-known/jwks.json` by default. */
  jwks?: string | undefined
  /** How long the current keys stay published (a duration: 1d). */
  keep?: string | undefined
  /** Also list the new public key, to publish it before the new secret signs. */
  prepublish?: boolean | undefined
  policies: string
}

/** Least `--keep`: tokens live `token_ttl` after the switch, and a deploy takes minutes, not seconds. */
const MIN_KEEP_MS = 10 * 60_000

/**
 * `signing-keys rotate`: a new signing key set (stdout, for `wrangler secret put`) holding only the
 * new key, and the `previous_signing_keys` entries (stderr) that keep the keys published now in
 * the JWKS until a date. The current private key is never needed: the public keys are read from
 * the gateway's own JWKS.
 */
export async function rotateSigningKeysCommand(options: RotateOptions): Promise<number> {
  if (options.alg !== 'EdDSA' && options.alg !== 'ES256') throw new Error('--alg is EdDSA or ES256')
  const keepMs = parseDuration(options.keep ?? '1d')
  if (keepMs < MIN_KEEP_MS)
    throw new Error('--keep is at least 10m: tokens signed just before the switch must still verify')
  const compiled = compilePolicies(readPolicyDir(options.policies))
  if (!compiled.ok) throw new Error(`${options.policies} does not compile: run \`invoker-gateway check\``)
  const source = options.jwks ?? new URL('/.well-known/jwks.json', compiled.policy.gateway.issuer).href
  const published = await readJwks(source)
  const listed = new Set(compiled.policy.previousSigningKeys.map((k) => k.jwk['kid']))
  const current = published.filter(
    (key) => typeof key.kid === 'string' && !listed.has(key.kid) && (key.alg === 'EdDSA' || key.alg === 'ES256'),
  )
  if (current.length === 0 && published.length > 0)
    console.error(`every key at ${source} is already under previous_signing_keys`)

  const { privateKey, publicKey } = await generateKeyPair(options.alg, {
    extractable: true,
    ...(options.alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  })
  const kid = new Date().toISOString().slice(0, 10) + '-' + crypto.randomUUID().slice(0, 8)
  const until = new Date(Date.now() + keepMs).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const entries = [
    ...current,
    ...(options.prepublish ? [{ ...(await exportJWK(publicKey)), alg: options.alg, kid }] : []),
  ].map((key) => {
    const { kty, crv, x, y, kid: id, alg } = key
    const jwk = { kty, crv, x, ...(y ? { y } : {}), kid: id, alg }
    return `  - until: ${until}\n    jwk: ${JSON.stringify(jwk)}`
  })
  console.log(JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), alg: options.alg, kid }] }))
  const steps = [
    entries.length > 0
      ? `add the lines above to policies/_gateway.yaml, then \`npm run deploy\`: they stay published until ${until}`
      : null,
    options.prepublish
      ? `wait ${JWKS_CACHE_MAX_AGE_S / 60} minutes (the JWKS max-age), so verifiers that refresh only on a timer hold the new key`
      : null,
    'put the new set (stdout) in place: printf \'%s\' "$NEW_KEYS" | npx wrangler secret put INVOKER_SIGNING_KEYS',
    entries.length > 0 ? `after ${until}, delete the entries (the deploy guard refuses them once past)` : null,
  ].filter((step): step is string => step !== null)
  console.error(`
New signing key ${kid} (${options.alg}) on stdout: the whole new INVOKER_SIGNING_KEYS (the old private key is not needed).
${entries.length > 0 ? `\nprevious_signing_keys:\n${entries.join('\n')}\n` : `No key published at ${source} needs keeping.\n`}
In this order (README.md, "Rotating the signing key"):
${steps.map((step, i) => `  ${i + 1}. ${step}`).join('\n')}`)
  return 0
}

async function readJwks(source: string): Promise<JWK[]> {
  let text: string
  if (/^https?:\/\//.test(source)) {
    let response: Response
    try {
      response = await fetch(source, { signal: AbortSignal.timeout(10_000) })
    } catch (error) {
      throw new Error(
        `could not fetch ${source} (${error instanceof Error ? error.message : String(error)}): pass --jwks URL or FILE with the JWKS the gateway publishes now`,
      )
    }
    if (!response.ok)
      throw new Error(
        `${source} answered ${response.status}: pass --jwks URL or FILE with the JWKS the gateway publishes now`,
      )
    text = await response.text()
  } else text = readFileSync(source, 'utf8')
  const set = JSON.parse(text) as { keys?: unknown }
  if (!Array.isArray(set.keys)) throw new Error(`${source} is not a JWK set`)
  for (const key of set.keys as JWK[]) {
    if ('d' in key || 'k' in key)
      throw new Error(
        `${source} holds private or symmetric keys: give the public JWKS (/.well-known/jwks.json), never the secret`,
      )
  }
  return set.keys as JWK[]
}
