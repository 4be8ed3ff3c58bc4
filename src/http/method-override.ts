/**
 * Method-override headers (`X-HTTP-Method-Override` and its siblings) make some backends act on
 * another method than the request's: a POST that a `method: DELETE` deny rule lets through
 * would delete. The gateway drops them unless the pack lists the ones its backend honours; then
 * the method they name is the one rules, agent lists and rate limits see, and it is forwarded
 * only on POST (the one method every framework tunnels overrides through, e.g. Express
 * method-override's default and Rails), so that a backend which honours it on POST alone never
 * acts on a method the gateway did not decide on.
 *
 * @module
 */

/** Lower case; the names the policy may list (`method_override`); forwarding drops the others. */
export const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const

/** An HTTP method token as overrides carry it (RFC 9110 §9.1 allows more; no backend needs it). */
const METHOD = /^[A-Z]{1,16}$/

export type EffectiveMethod =
  | { ok: true; method: string; override: { headers: readonly string[]; method: string } | null }
  | { ok: false; problem: string }

const NO_OVERRIDE = null

/** TRACE and IIS's TRACK echo the request back (route step); CONNECT asks for a tunnel. */
const NEVER_FORWARDED = new Set(['TRACE', 'TRACK', 'CONNECT'])

/** The method the request is decided on, and the override headers to forward with it. */
export function effectiveMethod(method: string, headers: Headers, allowed: readonly string[]): EffectiveMethod {
  if (allowed.length === 0 || method !== 'POST') return { ok: true, method, override: NO_OVERRIDE }
  let named: string | null = null
  const present: string[] = []
  for (const name of allowed) {
    const value = headers.get(name)
    if (value === null) continue
    const upper = value.trim().toUpperCase()
    if (!METHOD.test(upper)) return { ok: false, problem: `${name} must name one HTTP method` }
    // Methods the gateway refuses on the request line are refused when tunnelled too: a backend
    // that honours the override would echo TRACE (and the X-Invoker with it), or open a tunnel.
    if (NEVER_FORWARDED.has(upper)) return { ok: false, problem: `${name} may not name ${upper}` }
    if (named !== null && named !== upper)
      return { ok: false, problem: 'two method-override headers name different methods' }
    named = upper
    present.push(name)
  }
  return named === null
    ? { ok: true, method, override: NO_OVERRIDE }
    : { ok: true, method: named, override: { headers: present, method: named } }
}
