/** Writes `.dev.vars` with a fresh local signing key when there is none (never committed). */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { exportJWK, generateKeyPair } from 'jose'

export async function ensureDevVars(path = '.dev.vars'): Promise<void> {
  if (existsSync(path) && readFileSync(path, 'utf8').includes('INVOKER_SIGNING_KEYS=')) return
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const jwk = { ...(await exportJWK(privateKey)), alg: 'EdDSA', kid: `dev-${crypto.randomUUID().slice(0, 8)}` }
  const previous = existsSync(path) ? readFileSync(path, 'utf8') : ''
  writeFileSync(path, `${previous}INVOKER_SIGNING_KEYS='${JSON.stringify({ keys: [jwk] })}'\n`, { mode: 0o600 })
  console.error(`wrote a local signing key to ${path} (git-ignored)`)
}
