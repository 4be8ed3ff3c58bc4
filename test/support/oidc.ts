/**
 * A real OpenID provider for tests: `oidc-provider` (the certified Node implementation) on
 * loopback, issuing JWT access tokens (RFC 9068, via resource indicators) and opaque tokens
 * (introspected per RFC 7662) to client-credentials clients.
 *
 * A thin Node server sits in front of it for what a test must be able to do to a real IdP:
 *
 *   POST /__control/rotate          replace the signing key (the old one leaves the JWKS)
 *   POST /__control/jwks?mode=M     the JWKS endpoint answers normally (up), 503 (down) or never (hang)
 *
 * Everything else is the provider itself.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import Provider, { type Configuration } from 'oidc-provider'
import { AGENTS_RESOURCE, OIDC_CLIENTS } from './oidc-client.ts'
import { freePort } from './ports.ts'

export interface OidcProvider {
  issuer: string
  jwksUri: string
  introspectionEndpoint: string
  tokenEndpoint: string
  /** Public JWKs the provider currently signs with. */
  publicJwks(): Promise<{ keys: JWK[] }>
  close(): Promise<void>
}

type JwksMode = 'up' | 'down' | 'hang'

async function signingKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  const jwk = await exportJWK(privateKey)
  return { ...jwk, kid: `es256-${crypto.randomUUID().slice(0, 8)}`, alg: 'ES256', use: 'sig' }
}

function configuration(key: JWK): Configuration {
  const client = (id: string, secret: string) => ({
    client_id: id,
    client_secret: secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    id_token_signed_response_alg: 'ES256' as const,
  })
  return {
    clients: [
      client(OIDC_CLIENTS.agent.id, OIDC_CLIENTS.agent.secret),
      client(OIDC_CLIENTS.shortLived.id, OIDC_CLIENTS.shortLived.secret),
      client(OIDC_CLIENTS.gateway.id, OIDC_CLIENTS.gateway.secret),
    ],
    jwks: { keys: [key] },
    scopes: ['agents:read', 'agents:write', 'admin'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: (_ctx, client) => client.clientId === OIDC_CLIENTS.gateway.id },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AGENTS_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource, client) => ({
          scope: 'agents:read agents:write admin',
          audience: resource,
          accessTokenTTL: client.clientId === OIDC_CLIENTS.shortLived.id ? 2 : 600,
          accessTokenFormat: resource.includes('opaque') ? 'opaque' : 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    ttl: { ClientCredentials: (_ctx, _token, client) => (client.clientId === OIDC_CLIENTS.shortLived.id ? 2 : 600) },
    extraTokenClaims: (_ctx, token) => ({ org_id: 'acme', client_name: `client ${token.clientId ?? ''}` }),
  }
}

export async function startOidcProvider(): Promise<OidcProvider> {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  let key = await signingKey()
  let provider = new Provider(issuer, configuration(key))
  let mode: JwksMode = 'up'

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer)
    if (url.pathname === '/__control/rotate' && req.method === 'POST') {
      void signingKey().then((next) => {
        key = next
        provider = new Provider(issuer, configuration(key))
        res.writeHead(204).end()
      })
      return
    }
    if (url.pathname === '/__control/jwks' && req.method === 'POST') {
      mode = (url.searchParams.get('mode') as JwksMode | null) ?? 'up'
      res.writeHead(204).end()
      return
    }
    if (url.pathname === '/jwks' && mode === 'down') {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('down for the test')
      return
    }
    if (url.pathname === '/jwks' && mode === 'hang') return // never answers; the client must time out
    void provider.callback()(req, res)
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    introspectionEndpoint: `${issuer}/token/introspection`,
    tokenEndpoint: `${issuer}/token`,
    async publicJwks() {
      const { d: _d, ...publicKey } = key
      return { keys: [publicKey] }
    },
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
