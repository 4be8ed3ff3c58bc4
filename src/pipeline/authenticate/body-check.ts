/**
 * The body of a signed request, checked against the Content-Digest its signature covers (RFC
 * 9530) on its way to the backend: read whole (up to the pack's limit) and checked before it is
 * sent, so the backend receives the very bytes that matched or nothing; or, where the pack lets
 * large bodies stream, checked as it streams and the upstream request cut on a mismatch. The
 * forward step sends what this hands it and asks it why the fetch failed.
 *
 * @module
 */
import { GatewayError } from '../../errors/reasons.ts'
import type { CompiledPack } from '../../policy/types.ts'
import { declaredLength, readBounded, unreadableBody } from '../../read-body.ts'
import type { BodyCheck, CheckedBody } from '../../state.ts'
import { digestMatches, streamedBody } from './envelope/content-digest.ts'
import type { ExpectedDigest } from './envelope/expected-digest.ts'

const NO_FAILURE = (): null => null

export function bodyCheck(request: Request, expected: ExpectedDigest, pack: CompiledPack, idleMs: number): BodyCheck {
  return async (abort): Promise<CheckedBody> => {
    if (!expected.stream) return { body: await verifiedBody(request, expected, pack, idleMs), failure: NO_FAILURE }
    const streamed = streamedBody(
      request.body as ReadableStream<Uint8Array>,
      expected.digests,
      declaredLength(request.headers) ?? 0,
      abort,
    )
    return {
      body: streamed.body,
      failure: () =>
        streamed.mismatched
          ? new GatewayError({ reason: 'content_digest_mismatch', accepted: pack.auth })
          : streamed.unreadable
            ? new GatewayError({ reason: 'body_unreadable' })
            : null,
    }
  }
}

async function verifiedBody(
  request: Request,
  expected: ExpectedDigest,
  pack: CompiledPack,
  idleMs: number,
): Promise<Uint8Array> {
  const read = await readBounded(request, pack.signedBody.limitBytes, idleMs)
  if (!read.ok) throw unreadableBody(read.problem, pack.signedBody.limitBytes, idleMs)
  if (!(await digestMatches(read.bytes, expected.digests)))
    throw new GatewayError({ reason: 'content_digest_mismatch', accepted: pack.auth })
  return read.bytes
}
