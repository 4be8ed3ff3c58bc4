/**
 * Runs a gateway built from inline YAML inside workerd, in front of the real Node test backend
 * (started by test/support/global-setup.ts). Requests go through `app.fetch` exactly as the
 * Worker entry serves them.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test'
import { createLocalJWKSet, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose'
import { createGateway } from '../../src/app.ts'
import type { Bindings } from '../../src/env.ts'
import { generateApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { compileYaml } from '../support/policy.ts'

export const backendOrigin = (): string => env.TEST_BACKEND_ORIGIN

export interface Gateway {
  /** `bindings` replaces some of the gateway's bindings for this one request (a secret removed…). */
  fetch(
    input: string,
    init?: RequestInit & { ip?: string | null; bindings?: Record<string, unknown> },
  ): Promise<Response>
}

export function gateway(
  packs: Record<string, string>,
  gatewayYaml: string,
  signingKeys: string | null = env.TEST_SIGNING_KEYS,
  /** Further bindings, including Worker secrets the policy names (HS256 keys, client secrets). */
  bindings: Omit<Bindings, 'INVOKER_SIGNING_KEYS'> & Record<string, unknown> = {},
): Gateway {
  const withBackend = Object.fromEntries(
    Object.entries(packs).map(([id, text]) => [id, text.replaceAll('$BACKEND', env.TEST_BACKEND_ORIGIN)]),
  )
  const app = createGateway(compileYaml(withBackend, gatewayYaml).policy)
  return {
    async fetch(input, init = {}) {
      const { ip = '203.0.113.7', bindings: override = {}, ...rest } = init
      const request = new Request(new URL(input, 'https://gw.test'), rest)
      if (ip !== null) request.headers.set('cf-connecting-ip', ip)
      const ctx = createExecutionContext()
      const base = signingKeys === null ? bindings : { ...bindings, INVOKER_SIGNING_KEYS: signingKeys }
      const response = await app.fetch(request, { ...base, ...override }, ctx)
      await waitOnExecutionContext(ctx)
      return response
    },
  }
}

export interface MintedKey {
  key: string
  keyId: string
  /** The `api_keys` entry for `_gateway.yaml`, indented for a map under `api_keys:`. */
  yaml: string
}

export async function mintKey(name: string, extra = ''): Promise<MintedKey> {
  const { key, keyId } = generateApiKey()
  const yaml = `  ${name}:\n    key_id: "${keyId}"\n    sha256: "${await sha256Hex(key)}"\n${extra ? extra.replace(/^/gm, '    ') + '\n' : ''}`
  return { key, keyId, yaml }
}

export interface Echo {
  method: string
  path: string
  headers: Record<string, string>
  body_bytes: number
}

export async function verifiedInvoker(
  gw: Gateway,
  token: string,
  audience: string,
): Promise<{ payload: JWTPayload & Record<string, unknown>; protectedHeader: ProtectedHeaderParameters }> {
  const jwks = (await (await gw.fetch('/.well-known/jwks.json')).json()) as { keys: [] }
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: 'https://gateway.test',
    audience,
    typ: 'invoker+jwt',
    algorithms: ['EdDSA'],
  })
  return { payload: payload as JWTPayload & Record<string, unknown>, protectedHeader }
}
