/**
 * A small OAuth 2.1 authorization server for the MCP demo and its tests: the real `oidc-provider`
 * with what an MCP client (MCP 2025-11-25 "Authorization") uses: authorization code with PKCE,
 * dynamic client registration (RFC 7591, what the official SDK client does when the server does
 * not take Client ID Metadata Documents) and resource indicators (RFC 8707), so that each access
 * token is a JWT whose `aud` is the MCP server it was asked for.
 *
 * Two demo users, alice and bob, sign in on a page of buttons (no passwords: a local demo), then
 * approve what the client asks. Everything else is the provider itself.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider'

export const DEMO_USERS: Record<string, { email: string; name: string }> = {
  alice: { email: 'alice@example.com', name: 'Alice' },
  bob: { email: 'bob@example.com', name: 'Bob' },
}

export interface AuthorizationServerOptions {
  port: number
  /** The resources (RFC 8707) it issues tokens for, and the scopes each may carry. */
  resources: Record<string, string[]>
}

export interface AuthorizationServer {
  issuer: string
  close(): Promise<void>
}

async function signingKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  return {
    ...(await exportJWK(privateKey)),
    kid: `demo-as-${crypto.randomUUID().slice(0, 8)}`,
    alg: 'ES256',
    use: 'sig',
  }
}

function configuration(key: JWK, options: AuthorizationServerOptions): Configuration {
  return {
    jwks: { keys: [key] },
    // A client registers the scopes it will ask for (RFC 7591 `scope`), resource scopes included.
    scopes: ['openid', 'offline_access', ...new Set(Object.values(options.resources).flat())],
    claims: { openid: ['sub'], email: ['email'] },
    findAccount: (_ctx, id) =>
      DEMO_USERS[id] ? { accountId: id, claims: () => ({ sub: id, email: DEMO_USERS[id]?.email }) } : undefined,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'ES256',
    },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: KoaContextWithOIDC, resource: string) => {
          const scopes = options.resources[resource]
          if (scopes === undefined) throw new errors.InvalidTarget(`this server issues no tokens for ${resource}`)
          return {
            scope: scopes.join(' '),
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 600,
            jwt: { sign: { alg: 'ES256' } },
          }
        },
      },
    },
    // The user's email travels in the access token, so the gateway can map it (claims.email).
    extraTokenClaims: (_ctx, token) => {
      const accountId = 'accountId' in token ? token.accountId : undefined
      return typeof accountId === 'string' && DEMO_USERS[accountId] ? { email: DEMO_USERS[accountId].email } : {}
    },
  }
}

function page(title: string, body: string): string {
  return `<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font-family:sans-serif;max-width:32em;margin:3em auto"><h1>${title}</h1>${body}</body>`
}

const escapeHtml = (text: string): string => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  return new URLSearchParams(text)
}

async function interaction(provider: Provider, req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
  const details = await provider.interactionDetails(req, res)
  if (details.uid !== uid) throw new errors.InvalidRequest('interaction mismatch')
  const { prompt, params } = details
  if (req.method === 'GET') {
    const html =
      prompt.name === 'login'
        ? page(
            'Sign in (demo)',
            `<form method="post">${Object.keys(DEMO_USERS)
              .map((user) => `<button name="user" value="${user}">Sign in as ${user}</button> `)
              .join('')}</form>`,
          )
        : page(
            'Allow access?',
            `<p>${escapeHtml(String(params['client_id']))} asks for <code>${escapeHtml(String(params['scope'] ?? ''))}</code> on <code>${escapeHtml(String(params['resource'] ?? ''))}</code>.</p><form method="post"><button name="consent" value="allow">Allow</button></form>`,
          )
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html)
    return
  }
  const submitted = await form(req)
  if (prompt.name === 'login') {
    const user = submitted.get('user') ?? ''
    if (!DEMO_USERS[user]) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown user')
      return
    }
    await provider.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false })
    return
  }
  if (submitted.get('consent') !== 'allow') {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'the user refused' },
      { mergeWithLastSubmission: false },
    )
    return
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session?.accountId as string, clientId: String(params['client_id']) })
  if (grant === undefined) throw new errors.InvalidRequest('grant not found')
  const missing = prompt.details as {
    missingOIDCScope?: string[]
    missingOIDCClaims?: string[]
    missingResourceScopes?: Record<string, string[]>
  }
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims)
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {}))
    grant.addResourceScope(resource, scopes.join(' '))
  const grantId = await grant.save()
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
}

export async function startAuthorizationServer(options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const issuer = `http://127.0.0.1:${options.port}`
  const provider = new Provider(issuer, configuration(await signingKey(), options))
  const callback = provider.callback()
  const server: Server = createServer((req, res) => {
    const uid = /^\/interaction\/([\w-]+)$/.exec(new URL(req.url ?? '/', issuer).pathname)?.[1]
    if (uid === undefined) {
      void callback(req, res)
      return
    }
    interaction(provider, req, res, uid).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' })
      res.end(error instanceof Error ? error.message : 'interaction failed')
    })
  })
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve))
  return {
    issuer,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
