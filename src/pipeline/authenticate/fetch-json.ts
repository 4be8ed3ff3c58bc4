/**
 * One JSON call to a service the gateway's verdict depends on (token introspection, an app's
 * session endpoint, a key directory): bounded by a timeout, never following a redirect, and any
 * failure told apart from an answer, so that the caller can say "unavailable" (503) rather than
 * "invalid". Problem texts name the service, never what was sent to it.
 *
 * @module
 */

export type JsonAnswer = { ok: true; json: unknown } | { ok: false; status: number | null; problem: string }

export async function fetchJson(service: string, url: string, init: RequestInit, timeoutMs: number): Promise<JsonAnswer> {
  let response: Response
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' })
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError'
    return { ok: false, status: null, problem: `${service} ${timedOut ? 'timed out' : 'unreachable'}` }
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    return { ok: false, status: response.status, problem: `${service} answered ${response.status}` }
  }
  try {
    return { ok: true, json: await response.json() }
  } catch {
    return { ok: false, status: 200, problem: `${service} answered no JSON` }
  }
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
