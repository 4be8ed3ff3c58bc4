/**
 * One JSON call to a service the gateway's verdict depends on (token introspection, an app's
 * session endpoint, a key directory): bounded by a timeout, never following a redirect, and any
 * failure told apart from an answer, so that the caller can say "unavailable" (503) rather than
 * "invalid". Problem texts name the service, never what was sent to it. An answer larger than
 * {@link MAX_FETCHED_ANSWER_BYTES} is refused while it is read, never held whole. Never from or
 * into the zone's cache ({@link OWN_FETCH_CACHE}).
 *
 * @module
 */
import { MAX_FETCHED_ANSWER_BYTES } from '../../constants.ts'
import { ok, refused, unavailable, type Outcome } from '../../outcome.ts'

/**
 * Every fetch the gateway makes for itself (session endpoint, introspection, JWKS, key
 * directories) bypasses Cloudflare's cache. These answers are per credential or must be current:
 * a session endpoint is usually in the Worker's own zone, whose cache is keyed by URL alone, so
 * with "Cache Everything" or a cacheable answer one user's get-session answer would be served for
 * another user's cookie; a cached JWKS would outlive a key rotation past `max_age`. Accepted since
 * compatibility date 2024-11-11 (`cache_option_enabled`), as the upstream fetch's.
 */
export const OWN_FETCH_CACHE = 'no-store' satisfies RequestInit['cache']

/** The service answered with a status other than 200: what the caller makes of it is its own call. */
export interface StatusAnswer {
  status: number
  problem: string
}

/** The parsed JSON; a status other than 200 (refused); or no usable answer at all (unavailable). */
export type JsonAnswer = Outcome<unknown, StatusAnswer>

export async function fetchJson(
  service: string,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<JsonAnswer> {
  let response: Response
  try {
    response = await fetch(url, {
      ...init,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
      cache: OWN_FETCH_CACHE,
    })
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError'
    return unavailable(`${service} ${timedOut ? 'timed out' : 'unreachable'}`)
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    return refused({ status: response.status, problem: `${service} answered ${response.status}` })
  }
  let text: string | null
  try {
    text = await readLimited(response, MAX_FETCHED_ANSWER_BYTES)
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError'
    return unavailable(`${service} ${timedOut ? 'timed out' : 'failed'} while answering`)
  }
  if (text === null) return unavailable(`${service} answered more than ${MAX_FETCHED_ANSWER_BYTES} bytes`)
  try {
    return ok(JSON.parse(text) as unknown)
  } catch {
    return unavailable(`${service} answered no JSON`)
  }
}

/**
 * The body as text, or `null` (and the rest cancelled) once it passes `maxBytes`. By hand: the
 * Fetch API reads a body whole or not at all, and a service that answers without end must cost
 * the isolate no more than `maxBytes`.
 */
export async function readLimited(response: Response, maxBytes: number): Promise<string | null> {
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (declared > maxBytes || response.body === null) {
    await response.body?.cancel()
    return declared > maxBytes ? null : ''
  }
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let read = 0
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return text + decoder.decode()
    read += value.byteLength
    if (read > maxBytes) {
      await reader.cancel()
      return null
    }
    text += decoder.decode(value, { stream: true })
  }
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
