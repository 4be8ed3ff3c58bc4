/** One digest of a Content-Digest field (RFC 9530) that the gateway can check. */
export interface DigestValue {
  algorithm: 'SHA-256' | 'SHA-512'
  digest: Uint8Array
}

/** The Content-Digest a signed body must match (RFC 9530), decided by the envelope step. */
export interface ExpectedDigest {
  /**
   * Every digest of the field the gateway supports (one or two), each of which the body must
   * match: a backend that checks the other one must not find a body the gateway called verified.
   */
  digests: readonly DigestValue[]
  /**
   * Whether the body streams to the backend and is checked at its end (the pack opted in and the
   * declared length is above its limit), rather than being read and checked before forwarding.
   */
  stream: boolean
}
