/**
 * What a client of the test OpenID provider (test/support/oidc.ts) knows: its client ids and
 * secrets, the resources it may ask tokens for, and how to get a token. No Node imports: the
 * workerd tests use it too.
 */

/** Audience of JWT access tokens; a resource containing "opaque" gets opaque tokens instead. */
export const AGENTS_RESOURCE = 'https://agents.test'
export const OTHER_RESOURCE = 'https://other-api.test'
export const OPAQUE_RESOURCE = 'https://opaque.agents.test'

export const OIDC_CLIENTS = {
  /** A service calling agents: tokens live 10 minutes. */
  agent: { id: 'crm-agent', secret: 'crm-agent-secret-0123456789' },
  /** Tokens that expire after 2 seconds. */
  shortLived: { id: 'short-lived', secret: 'short-lived-secret-0123456789' },
  /** The gateway's own client, for introspection. */
  gateway: { id: 'invoker-gateway', secret: 'gateway-introspection-secret-0123' },
} as const

/** A client-credentials token from the provider's token endpoint (what a real client does). */
export async function clientCredentialsToken(
  tokenEndpoint: string,
  client: { id: string; secret: string },
  options: { resource?: string; scope?: string } = {},
): Promise<string> {
  const body = new URLSearchParams({ grant_type: 'client_credentials' })
  if (options.resource) body.set('resource', options.resource)
  if (options.scope) body.set('scope', options.scope)
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'Basic ' + btoa(`${client.id}:${client.secret}`),
    },
    body,
  })
  const json = (await response.json()) as { access_token?: string; error?: string; error_description?: string }
  if (!response.ok || !json.access_token)
    throw new Error(`token endpoint: ${response.status} ${json.error ?? ''} ${json.error_description ?? ''}`)
  return json.access_token
}
