import { generateApiKey, sha256Hex } from '../keys/api-key-format.ts'

/** Mints a key: the key is printed once (stdout), only its hash goes into the policy entry. */
export async function createKeyCommand(options: { name?: string; packs?: string; expires?: string; label?: string }): Promise<number> {
  const name = options.name
  if (!name || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) throw new Error('keys create needs --name (lower-case letters, digits, "-", "_")')
  if (options.expires && Number.isNaN(Date.parse(options.expires))) throw new Error('--expires is an ISO 8601 date')
  const { key, keyId } = generateApiKey()
  const lines = [
    `  ${name}:`,
    `    key_id: "${keyId}"`,
    `    sha256: "${await sha256Hex(key)}"`,
  ]
  if (options.packs) lines.push(`    packs: [${options.packs.split(',').map((p) => p.trim()).join(', ')}]`)
  if (options.expires) lines.push(`    expires: ${options.expires}`)
  if (options.label) lines.push(`    invoker: { label: ${JSON.stringify(options.label)} }`)
  console.log(key)
  console.error(`\nThe key above is shown once; store it now. Add this under api_keys: in policies/_gateway.yaml:\n\n${lines.join('\n')}\n`)
  return 0
}
