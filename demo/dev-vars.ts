/**
 * Writes `.dev.vars` (git-ignored, never committed) with what the local gateway needs and does
 * not have yet: a fresh signing key, and an admin token for runtime keys (`keys mint`).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { exportJWK, generateKeyPair } from 'jose'

export async function ensureDevVars(path = '.dev.vars'): Promise<void> {
  let text = existsSync(path) ? readFileSync(path, 'utf8') : ''
  const before = text
  if (!text.includes('INVOKER_SIGNING_KEYS=')) {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
    const jwk = { ...(await exportJWK(privateKey)), alg: 'EdDSA', kid: `dev-${crypto.randomUUID().slice(0, 8)}` }
    text += `INVOKER_SIGNING_KEYS='${JSON.stringify({ keys: [jwk] })}'\n`
  }
  if (!text.includes('GATEWAY_ADMIN_TOKEN=')) {
    text += `GATEWAY_ADMIN_TOKEN=${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')}\n`
  }
  if (text === before) return
  writeFileSync(path, text, { mode: 0o600 })
  console.error(`wrote a local signing key and admin token to ${path} (git-ignored)`)
}

/** A variable from `.dev.vars`, for the CLI examples and tests. */
export function devVar(name: string, path = '.dev.vars'): string | undefined {
  if (!existsSync(path)) return undefined
  const line = readFileSync(path, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}=`))
  return line?.slice(name.length + 1).replace(/^'|'$/g, '')
}
