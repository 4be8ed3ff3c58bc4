/**
 * The fields every answer carries once a step has recorded them, whichever step answers (the
 * backend's answer, a refusal, a 502): the CORS fields of a browser caller's pack and the
 * RateLimit fields of the rules that counted the request. Set on the answer's own headers, once.
 *
 * @module
 */
import type { CorsFields, RequestState } from '../state.ts'
import { applyRateLimitHeaders } from './ratelimit-fields.ts'

export function answerFields(headers: Headers, s: RequestState): void {
  if (s.rateLimitFields !== null) applyRateLimitHeaders(headers, s.rateLimitFields)
  if (s.cors !== null) corsFields(headers, s.cors)
}

/** The CORS fields of an answer (`Vary: Origin`: the answer depends on the caller's origin). */
export function corsFields(headers: Headers, fields: CorsFields): void {
  if (fields.allowOrigin !== null) headers.set('access-control-allow-origin', fields.allowOrigin)
  if (fields.credentials) headers.set('access-control-allow-credentials', 'true')
  headers.set('access-control-expose-headers', fields.expose)
  headers.append('vary', 'Origin')
}
