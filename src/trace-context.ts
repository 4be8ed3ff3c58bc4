/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/, Level 1) at the gateway: a client's
 * valid `traceparent` (and its `tracestate`) reach the backend unchanged; a missing or invalid
 * one starts a new trace, so every forwarded request carries one and every log line names its
 * trace.
 *
 * The gateway records no span of its own (Workers' tracing does not join external traces yet),
 * so it passes a valid context on as it came (§3.2: a vendor MAY mutate it; one that does not
 * leaves `tracestate` alone too) rather than naming a parent span nobody reports. Parsed by
 * hand: the grammar is four fixed-width hex fields, and a regular expression per request would
 * cost more than the slicing below.
 *
 * @module
 */

export interface TraceContext {
  /** 32 lower-case hex digits. */
  traceId: string
  /** The `traceparent` the backend receives. */
  traceparent: string
  /** The `tracestate` the backend receives, or `null` for none. */
  tracestate: string | null
}

/** §3.2.2: version 00 is exactly 55 characters; later versions at least that. */
const TRACEPARENT_V0_LENGTH = 55
/** §3.3.1.1: a tracestate holds at most 32 list-members; a longer one MAY be discarded whole. */
const MAX_TRACESTATE_MEMBERS = 32
/** §3.3.1.5: 512 characters is what every vendor must pass on; more is refused here, not cut. */
const MAX_TRACESTATE_LENGTH = 512
/** §3.3.1.3: `key` is `simple-key` or `tenant@system`; `value` printable ASCII without `,` and `=`, no trailing space. */
const TRACESTATE_MEMBER =
  /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/

/** The trace context for a request's `traceparent` and `tracestate` fields (either may be absent). */
export function traceContext(traceparent: string | null, tracestate: string | null): TraceContext {
  const parsed = traceparent === null ? null : parseTraceparent(traceparent)
  if (parsed === null) return newTrace()
  return {
    traceId: parsed.traceId,
    traceparent: parsed.value,
    tracestate: tracestate === null ? null : validTracestate(tracestate),
  }
}

/**
 * §3.2.2.x: the version's fields, or `null` when the value is invalid (and the trace restarts).
 * A version above 00 is read by its 00 fields, as §3.2.4 asks, and passed on as version 00.
 */
export function parseTraceparent(value: string): { traceId: string; value: string } | null {
  if (value.length < TRACEPARENT_V0_LENGTH) return null
  const version = value.slice(0, 2)
  if (!isLowerHex(version, 0, 2) || version === 'ff') return null
  if (value.charCodeAt(2) !== 0x2d || value.charCodeAt(35) !== 0x2d || value.charCodeAt(52) !== 0x2d) return null
  if (!isLowerHex(value, 3, 35) || !isLowerHex(value, 36, 52) || !isLowerHex(value, 53, 55)) return null
  const traceId = value.slice(3, 35)
  if (isZeros(value, 3, 35) || isZeros(value, 36, 52)) return null
  if (version === '00') return value.length === TRACEPARENT_V0_LENGTH ? { traceId, value } : null
  // A later version: what follows the flags must be nothing or another field.
  if (value.length > TRACEPARENT_V0_LENGTH && value.charCodeAt(55) !== 0x2d) return null
  return { traceId, value: `00-${value.slice(3, 55)}` }
}

/** The client's tracestate when it is well formed (§3.3.1), else none: the trace goes on without it. */
function validTracestate(value: string): string | null {
  if (value.length > MAX_TRACESTATE_LENGTH) return null
  const members = value.split(',')
  if (members.length > MAX_TRACESTATE_MEMBERS) return null
  let any = false
  for (const member of members) {
    const trimmed = member.trim()
    if (trimmed === '') continue // §3.3.1.1: empty list-members are allowed and ignored
    if (!TRACESTATE_MEMBER.test(trimmed)) return null
    any = true
  }
  return any ? value : null
}

/**
 * A new trace: a random trace id and parent id (§3.2.2.3, §3.2.2.4) from one call to
 * `crypto.getRandomValues`, flags `01` (sampled: the gateway samples nothing away, so a backend
 * that follows its parent's decision records the request).
 */
export function newTrace(): TraceContext {
  const bytes = crypto.getRandomValues(new Uint8Array(24))
  // All zeros is invalid for either id (§3.2.2.3): 2^-64 at worst, but cheap to rule out.
  if (zeroBytes(bytes, 0, 16)) bytes[15] = 1
  if (zeroBytes(bytes, 16, 24)) bytes[23] = 1
  const hex = lowerHex(bytes)
  const traceId = hex.slice(0, 32)
  return { traceId, traceparent: `00-${traceId}-${hex.slice(32)}-01`, tracestate: null }
}

/**
 * Lower-case hex from the runtime's own `Uint8Array.prototype.toHex` (TC39 "Uint8Array to/from
 * base64", in workerd's V8; TypeScript's ES2023 library does not declare it yet): one native call
 * instead of 24 strings joined per request. Only the Worker starts traces.
 */
function lowerHex(bytes: Uint8Array): string {
  return (bytes as Uint8Array & { toHex(): string }).toHex()
}

function isLowerHex(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i)
    if (!((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66))) return false
  }
  return true
}

function zeroBytes(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false
  return true
}

function isZeros(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) !== 0x30) return false
  return true
}
