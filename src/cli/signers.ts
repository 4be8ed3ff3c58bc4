/**
 * `signers generate` and `sign`: a key pair (or HMAC secret) for a request signer with the policy
 * entry that admits it, and a signed request for testing, like curl with a key file. The
 * signature base comes from the very module the gateway verifies with, and WebCrypto signs.
 */
import { existsSync, readFileSync } from 'node:fs'
import { generateKeyPair, importJWK, type JWK } from 'jose'
import { serializeDictionary, type InnerList, type Item } from 'structured-headers'
import {
  isSignatureAlgorithm,
  SIGNATURE_ALGORITHM_TABLE,
  SIGNATURE_ALGORITHMS,
} from '../pipeline/authenticate/envelope/algorithm-table.ts'
import { signatureBase } from '../pipeline/authenticate/envelope/signature-base.ts'
import { NAME } from '../policy/patterns.ts'
import type { SignatureAlgorithm } from '../policy/types.ts'
import { signerKeyPath, writePrivateKeyFile } from './private-key-file.ts'

interface SignerFile {
  keyid: string
  algorithm: SignatureAlgorithm
  /** Private JWK (asymmetric) … */
  jwk?: JsonWebKey
  /** … or the base64 HMAC secret. */
  secret?: string
}

/** RSA signers' keys: 3072 bits, NIST SP 800-57's size for security beyond 2030 (jose's default is 2048). */
const RSA_MODULUS_BITS = 3072

export async function generateSignerCommand(options: {
  name?: string
  alg?: string
  keyid?: string
  out?: string
  delegate?: boolean
}): Promise<number> {
  const name = options.name
  if (!name || !NAME.test(name)) throw new Error('--name is lower-case letters, digits, "-" and "_"')
  const algorithm = options.alg ?? 'ed25519'
  if (!isSignatureAlgorithm(algorithm)) throw new Error(`--alg is one of ${SIGNATURE_ALGORITHMS.join(', ')}`)
  const keyid = options.keyid ?? `${name}-${new Date().toISOString().slice(0, 10)}`
  const target = options.out ?? signerKeyPath(name)
  const secretName = `${name.toUpperCase().replace(/-/g, '_')}_SIGNER_SECRET`
  let signer: SignerFile
  let entry: string
  if (algorithm === 'hmac-sha256') {
    const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
    signer = { keyid, algorithm, secret }
    entry = `    secret: ${secretName}          # wrangler secret put ${secretName}  (the "secret" of the key file)`
  } else {
    const pair = await generateKeyPair(SIGNATURE_ALGORITHM_TABLE[algorithm].jose, {
      extractable: true,
      modulusLength: RSA_MODULUS_BITS,
    })
    const publicJwk = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey
    const { key_ops: _ops, ext: _ext, alg: _alg, ...jwk } = publicJwk
    signer = { keyid, algorithm, jwk: (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey }
    entry = `    jwk: ${JSON.stringify(jwk)}`
  }
  const file = writePrivateKeyFile(target, JSON.stringify(signer, null, 2) + '\n')
  console.error(`private key written to ${file} (mode 0600; keep it with the signer: the gateway never needs it)`)
  console.log(`# policies/_gateway.yaml, under signers:
  ${name}:
    keyid: ${keyid}
    algorithm: ${algorithm}
${entry}
    delegate: ${options.delegate ? 'true' : 'false'}
    invoker: { id: ${name}, kind: agent }`)
  return 0
}

async function signingKey(signer: SignerFile): Promise<CryptoKey> {
  if (signer.algorithm === 'hmac-sha256') {
    if (!signer.secret) throw new Error('the key file has no secret')
    return crypto.subtle.importKey(
      'raw',
      Buffer.from(signer.secret, 'base64'),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    )
  }
  if (!signer.jwk) throw new Error('the key file has no jwk')
  const { key_ops: _ops, ...jwk } = signer.jwk
  return (await importJWK(jwk as JWK, SIGNATURE_ALGORITHM_TABLE[signer.algorithm].jose)) as CryptoKey
}

export interface SignOptions {
  key?: string
  method?: string
  header?: string[]
  data?: string
  components?: string
  'on-behalf-of'?: string
  send?: boolean
}

/** Signs a request; prints the headers to add, or with --send, sends it and prints the answer. */
export async function signRequestCommand(url: string | undefined, options: SignOptions): Promise<number> {
  if (!url || !options.key)
    throw new Error(
      'usage: sign URL --key FILE [-X METHOD] [-H "name: value"]… [-d BODY] [--on-behalf-of USER] [--send]',
    )
  // --key is a file, or the name of a signer generated into the default folder.
  const keyFile = existsSync(options.key) || !NAME.test(options.key) ? options.key : signerKeyPath(options.key)
  const signer = JSON.parse(readFileSync(keyFile, 'utf8')) as SignerFile
  if (!isSignatureAlgorithm(signer.algorithm))
    throw new Error(`the key file's algorithm is not one of ${SIGNATURE_ALGORITHMS.join(', ')}`)
  const target = new URL(url)
  const method = (options.method ?? 'GET').toUpperCase()
  const headers = new Headers()
  for (const line of options.header ?? []) {
    const colon = line.indexOf(':')
    if (colon < 1) throw new Error(`-H "${line}": expected "name: value"`)
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
  }
  const components = options.components?.split(',').map((c) => c.trim()) ?? [
    '@method',
    '@authority',
    '@path',
    ...(target.search ? ['@query'] : []),
  ]
  if (options.data !== undefined) {
    const body = new TextEncoder().encode(options.data)
    const digest = Buffer.from(await crypto.subtle.digest('SHA-256', body)).toString('base64')
    headers.set('content-digest', `sha-256=:${digest}:`)
    headers.set('content-length', String(body.length))
    if (!headers.has('content-type')) headers.set('content-type', 'application/json')
    if (!components.includes('content-digest')) components.push('content-digest')
  }
  if (options['on-behalf-of']) {
    headers.set('on-behalf-of', options['on-behalf-of'])
    components.push('on-behalf-of')
  }
  const now = Math.floor(Date.now() / 1000)
  const params = new Map<string, string | number>([
    ['created', now],
    ['expires', now + 300],
    ['nonce', Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url')],
    ['keyid', signer.keyid],
    ['alg', signer.algorithm],
  ])
  const input: InnerList = [components.map((c): Item => [c, new Map()]), params]
  const base = signatureBase({ method, url: target, headers }, input)
  const signature = await crypto.subtle.sign(
    SIGNATURE_ALGORITHM_TABLE[signer.algorithm].params,
    await signingKey(signer),
    new TextEncoder().encode(base),
  )
  headers.set('signature-input', serializeDictionary(new Map([['sig1', input]])))
  headers.set('signature', serializeDictionary(new Map([['sig1', [signature, new Map()]]])))
  if (!options.send) {
    headers.forEach((value, name) => {
      console.log(`${name}: ${value}`)
    })
    return 0
  }
  const response = await fetch(target, {
    method,
    headers,
    ...(options.data !== undefined ? { body: options.data } : {}),
  })
  console.log(`HTTP ${response.status}`)
  console.log(await response.text())
  return response.ok ? 0 : 1
}
