/** What a user would write by hand: Hono's jwk middleware in front of its proxy() helper. */
import { Hono } from 'hono'
import { jwk } from 'hono/jwk'
import { proxy } from 'hono/proxy'
import type { HonoJsonWebKey } from 'hono/utils/jwt/jws'

type Env = { Bindings: { BACKEND: string; JWKS: string } }
let keys: HonoJsonWebKey[] | null = null

const app = new Hono<Env>()
app.use(
  '*',
  jwk({ alg: ['EdDSA'], keys: (c) => (keys ??= (JSON.parse(c.env.JWKS) as { keys: HonoJsonWebKey[] }).keys) }),
)
app.all('*', (c) => {
  const url = new URL(c.req.url)
  return proxy(c.env.BACKEND + url.pathname + url.search, c.req)
})
export default app
