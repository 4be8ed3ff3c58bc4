/**
 * `Content-Digest` (RFC 9530) of a signed body, checked before the backend may act on the body.
 *
 * By default the body is read (up to the pack's `envelope.body_limit`), its digest compared,
 * and only then are the very bytes that were checked forwarded: not one byte of a body that
 * does not match reaches the backend. A pack may opt in to streaming bodies above its limit;
 * such a body is hashed as it passes and its last chunk held back until the digest matched, and
 * a mismatch aborts the upstream request, so the backend never sees it whole (but has read the
 * rest, which the X-Invoker token says with `auth.body: "streamed"`).
 *
 * @module
 */
import { type Dictionary, parseDictionary } from 'structured-headers'
import { constantTimeEqual } from '../../../keys/digest.ts'
import type { CompiledPack } from '../../../policy/types.ts'
import { declaredLength } from '../../../read-body.ts'
import type { DigestValue, ExpectedDigest } from './expected-digest.ts'

export type { DigestValue, ExpectedDigest }

const SUPPORTED = [
  ['sha-512', 'SHA-512'],
  ['sha-256', 'SHA-256'],
] as const

/**
 * Every supported digest in the field (RFC 9530 lets a recipient check any of them; the gateway
 * checks all it can, so no digest it forwards disagrees with the body), or `null` if the field
 * names none, is malformed, or gives a supported algorithm a value that is not a byte sequence.
 */
export function parseContentDigest(value: string): DigestValue[] | null {
  let members: Dictionary
  try {
    members = parseDictionary(value)
  } catch {
    return null
  }
  const digests: DigestValue[] = []
  for (const [name, algorithm] of SUPPORTED) {
    const member = members.get(name)
    if (member === undefined) continue
    // A dictionary keeps the last of two members of one name (RFC 8941 §4.2.2); a backend that
    // reads the first would check a digest the gateway never compared. Two are refused.
    if (memberCount(value, name) > 1) return null
    const bytes = member[0]
    if (!(bytes instanceof ArrayBuffer)) return null
    digests.push({ algorithm, digest: new Uint8Array(bytes) })
  }
  return digests.length === 0 ? null : digests
}

/**
 * How many members of the field are named `name` (a member starts the field or follows a
 * comma). A quoted parameter holding ", name=" counts too: refused rather than misread.
 */
function memberCount(field: string, name: string): number {
  let count = 0
  for (const member of field.split(',')) {
    const key = member.trimStart()
    if (key.startsWith(name) && (key.length === name.length || '=;'.includes(key[name.length] as string))) count++
  }
  return count
}

/** Whether `bytes` is the body every digest names. */
export async function digestMatches(bytes: Uint8Array, expected: readonly DigestValue[]): Promise<boolean> {
  let matches = true
  for (const { algorithm, digest } of expected)
    matches = constantTimeEqual(new Uint8Array(await crypto.subtle.digest(algorithm, bytes)), digest) && matches
  return matches
}

export interface StreamedBody {
  /** Framed by the declared length, so that a cut-off body is an incomplete request upstream. */
  body: ReadableStream<Uint8Array>
  /** Whether the body turned out not to match (known once the body has been read). */
  readonly mismatched: boolean
  /** Whether the client's body failed before its end (the upstream request is aborted). */
  readonly unreadable: boolean
}

/**
 * Streams a signed body of `length` bytes upstream, checking it on the way.
 *
 * The upstream request is framed by Content-Length (a `FixedLengthStream`): workerd ends a
 * chunked upstream body cleanly even when its source fails (measured: the backend saw a whole,
 * shortened request), while a length-framed one that stops short is visibly incomplete.
 *
 * A mismatch calls `abort()`, which aborts the upstream fetch, rather than erroring the stream:
 * workerd logs a body stream that errors, or a fetch aborted with a reason, as an "uncaught
 * exception" even when the fetch's rejection is handled (measured); an abort without a reason
 * is not logged.
 */
export function streamedBody(
  body: ReadableStream<Uint8Array>,
  expected: readonly DigestValue[],
  length: number,
  abort: () => void,
): StreamedBody {
  const state = { mismatched: false, unreadable: false }
  const framed = new FixedLengthStream(length)
  void pump(body, framed.writable.getWriter(), expected, state, abort)
  return {
    body: framed.readable,
    get mismatched() {
      return state.mismatched
    },
    get unreadable() {
      return state.unreadable
    },
  }
}

async function pump(
  body: ReadableStream<Uint8Array>,
  out: WritableStreamDefaultWriter<Uint8Array>,
  expected: readonly DigestValue[],
  state: { mismatched: boolean; unreadable: boolean },
  abort: () => void,
): Promise<void> {
  const hashers = expected.map(({ algorithm, digest }) => {
    const stream = new crypto.DigestStream(algorithm)
    return { stream, writer: stream.getWriter(), digest }
  })
  const reader = body.getReader()
  let held: Uint8Array | null = null
  try {
    for (;;) {
      const { done, value } = await reader.read().catch((error: unknown) => {
        state.unreadable = true
        throw error
      })
      if (done) break
      for (const { writer } of hashers) await writer.write(value)
      if (held !== null) await out.write(held)
      held = value
    }
    let matches = true
    for (const { stream, writer, digest } of hashers) {
      await writer.close()
      matches = constantTimeEqual(new Uint8Array(await stream.digest), digest) && matches
    }
    if (!matches) {
      state.mismatched = true
      abort()
      return
    }
    if (held !== null) await out.write(held)
    await out.close()
  } catch {
    // The client's body failed or the upstream request ended: end the other side too (the fetch
    // reports what happened to it; an abort after it settled changes nothing).
    reader.cancel().catch(() => undefined)
    abort()
  }
}

/**
 * How a signed body is handled, from its declared length alone (so the X-Invoker token can say
 * it before the body is read): read and checked first, streamed (the pack opted in and the body
 * is declared larger than its limit), or refused. A body without Content-Length is read up to
 * the limit: it cannot stream, as only a length-framed upstream request shows a cut-off.
 */
export function signedBodyPlan(
  headers: Headers,
  settings: CompiledPack['signedBody'],
): 'verify' | 'stream' | 'too_large' {
  const declared = declaredLength(headers)
  if (declared === null || declared <= settings.limitBytes) return 'verify'
  return settings.stream ? 'stream' : 'too_large'
}
