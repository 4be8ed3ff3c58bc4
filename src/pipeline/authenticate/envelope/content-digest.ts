/**
 * `Content-Digest` (RFC 9530) checked while the body streams to the backend. The digest is
 * computed as the bytes pass (workerd's `DigestStream`), and the last chunk is held back until
 * it has been compared: a body that does not match never reaches the backend whole, and the
 * upstream request is aborted instead.
 *
 * @module
 */
import { parseDictionary } from 'structured-headers'
import { constantTimeEqual } from '../../../keys/digest.ts'
import type { ExpectedDigest } from './expected-digest.ts'

export type { ExpectedDigest }

/** The strongest supported digest in the field, or `null` if it names none (or is malformed). */
export function parseContentDigest(value: string): ExpectedDigest | null {
  let members
  try {
    members = parseDictionary(value)
  } catch {
    return null
  }
  for (const [name, algorithm] of [['sha-512', 'SHA-512'], ['sha-256', 'SHA-256']] as const) {
    const member = members.get(name)
    const bytes = member?.[0]
    if (bytes instanceof ArrayBuffer) return { algorithm, digest: new Uint8Array(bytes) }
  }
  return null
}

export class ContentDigestMismatch extends Error {
  override readonly name = 'ContentDigestMismatch'
}

export interface CheckedBody {
  body: ReadableStream<Uint8Array>
  /** Whether the body turned out not to match (known once the body has been read). */
  readonly mismatched: boolean
}

export function checkedBody(body: ReadableStream<Uint8Array>, expected: ExpectedDigest, contentLength: string | null = null): CheckedBody {
  const digest = new crypto.DigestStream(expected.algorithm)
  const writer = digest.getWriter()
  let held: Uint8Array | null = null
  const state = { mismatched: false }
  const checked = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        await writer.write(chunk)
        if (held !== null) controller.enqueue(held)
        held = chunk
      },
      async flush(controller) {
        await writer.close()
        if (!constantTimeEqual(new Uint8Array(await digest.digest), expected.digest)) {
          state.mismatched = true
          controller.error(new ContentDigestMismatch('the body does not match Content-Digest'))
          return
        }
        if (held !== null) controller.enqueue(held)
      },
    }),
  )
  // With a declared length the upstream request is framed by Content-Length, so a stream that
  // errors before its last bytes leaves the backend an incomplete request. Without one, workerd
  // ends a chunked body cleanly even when its stream errors (measured: the backend saw a whole
  // request, cut short), which is why the envelope step requires Content-Length on signed bodies.
  const length = contentLength !== null && /^\d{1,15}$/.test(contentLength) ? Number(contentLength) : null
  let framed: ReadableStream<Uint8Array> = checked
  if (length !== null) {
    const fixed = new FixedLengthStream(length)
    checked.pipeTo(fixed.writable).catch(() => undefined)
    framed = fixed.readable
  }
  return {
    body: framed,
    get mismatched() {
      return state.mismatched
    },
  }
}
