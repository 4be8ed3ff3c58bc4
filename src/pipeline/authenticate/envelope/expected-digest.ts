/** The Content-Digest a signed body must match (RFC 9530), decided by the envelope step. */
export interface ExpectedDigest {
  algorithm: 'SHA-256' | 'SHA-512'
  digest: Uint8Array
  /**
   * Whether the body streams to the backend and is checked at its end (the pack opted in and the
   * declared length is above its limit), rather than being read and checked before forwarding.
   */
  stream: boolean
}
