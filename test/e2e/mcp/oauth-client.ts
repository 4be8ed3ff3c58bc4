/**
 * What an MCP host does for OAuth, for the end-to-end tests: an in-memory `OAuthClientProvider`
 * for the official SDK client (it registers itself, keeps its tokens, and is sent to the
 * authorization page), and a user signing in on that page, driven over plain HTTP as a browser
 * would: follow redirects with the provider's cookies, pick the user, approve, and catch the
 * redirect back to the client with its authorization code.
 */
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js'

export class MemoryOAuthProvider implements OAuthClientProvider {
  /** Where the SDK sent the user last (the authorization request, with PKCE and resource). */
  authorizationUrl: URL | undefined
  registrations = 0
  #client: OAuthClientInformationMixed | undefined
  #tokens: OAuthTokens | undefined
  #verifier = ''
  readonly redirectUrl: string

  constructor(redirectUrl: string) {
    this.redirectUrl = redirectUrl
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'invoker-gateway e2e host',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.#client
  }

  saveClientInformation(client: OAuthClientInformationMixed): void {
    this.registrations++
    this.#client = client
  }

  tokens(): OAuthTokens | undefined {
    return this.#tokens
  }

  saveTokens(tokens: OAuthTokens): void {
    this.#tokens = tokens
  }

  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url
  }

  saveCodeVerifier(verifier: string): void {
    this.#verifier = verifier
  }

  codeVerifier(): string {
    return this.#verifier
  }
}

/**
 * Signs `user` in at the authorization page and approves what the client asked, as a browser
 * would; returns the authorization code the provider redirects back to the client with.
 */
export async function signIn(authorizationUrl: URL, user: string, redirectUrl: string): Promise<string> {
  const cookies = new Map<string, string>()
  let url = authorizationUrl.href
  let body: URLSearchParams | undefined
  for (let hop = 0; hop < 20; hop++) {
    const response = await fetch(url, {
      method: body ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body ? { body } : {}),
    })
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';')
      const at = (pair as string).indexOf('=')
      cookies.set((pair as string).slice(0, at), (pair as string).slice(at + 1))
    }
    body = undefined
    const location = response.headers.get('location')
    if (response.status >= 300 && response.status < 400 && location) {
      await response.arrayBuffer()
      const next = new URL(location, url)
      if (next.href.startsWith(redirectUrl)) {
        const code = next.searchParams.get('code')
        if (code === null)
          throw new Error(
            `the provider refused: ${next.searchParams.get('error')} ${next.searchParams.get('error_description')}`,
          )
        return code
      }
      url = next.href
      continue
    }
    const page = await response.text()
    if (response.status !== 200) throw new Error(`authorization page ${url}: ${response.status} ${page}`)
    // The sign-in page offers one button per user; the consent page one Allow button.
    body = page.includes('name="user"') ? new URLSearchParams({ user }) : new URLSearchParams({ consent: 'allow' })
  }
  throw new Error('too many redirects while signing in')
}
