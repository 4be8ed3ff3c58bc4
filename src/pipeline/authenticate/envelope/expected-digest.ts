/** The Content-Digest a signed body must match (RFC 9530), decided by the envelope step. */
export interface ExpectedDigest {
  algorithm: 'SHA-256' | 'SHA-512'
  digest: Uint8Array
}
