/**
 * A browser's side of the test Better Auth app (test/support/better-auth.ts): sign up, in and
 * out through its HTTP API and keep the session cookie it sets. No Node imports: the workerd
 * tests use it too.
 */

export const BETTER_AUTH_COOKIE = 'better-auth.session_token'

export interface SignedInUser {
  id: string
  email: string
  /** `name=value` of the session cookie, ready for a Cookie header. */
  cookie: string
}

/** Signs a new user up (Better Auth signs them in at once) and returns the session cookie. */
export async function signUp(origin: string, email: string, name: string): Promise<SignedInUser> {
  const response = await fetch(`${origin}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ email, name, password: 'correct horse battery staple' }),
  })
  if (!response.ok) throw new Error(`sign-up: ${response.status} ${await response.text()}`)
  const body = (await response.json()) as { user: { id: string; email: string } }
  return { id: body.user.id, email: body.user.email, cookie: sessionCookie(response) }
}

export async function signIn(origin: string, email: string): Promise<string> {
  const response = await fetch(`${origin}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ email, password: 'correct horse battery staple' }),
  })
  if (!response.ok) throw new Error(`sign-in: ${response.status} ${await response.text()}`)
  return sessionCookie(response)
}

export async function signOut(origin: string, cookie: string): Promise<void> {
  const response = await fetch(`${origin}/api/auth/sign-out`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin, cookie },
    body: '{}',
  })
  if (!response.ok) throw new Error(`sign-out: ${response.status} ${await response.text()}`)
}

function sessionCookie(response: Response): string {
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';', 1)[0] as string
    if (pair.startsWith(`${BETTER_AUTH_COOKIE}=`)) return pair
  }
  throw new Error('Better Auth set no session cookie')
}
