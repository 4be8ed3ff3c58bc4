// Runs the conformance vectors (x-invoker.json) against one build of the JS verifier: the
// sources under vitest, the packed tarball in plain Node (ESM and CommonJS), or a Worker in
// workerd. Plain JavaScript so that Node 20 runs it as it is. The Python suite has its twin in
// packages/verifier-python/tests/test_vectors.py.

/** @param {string} text */
function base64urlBytes(text) {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

/**
 * What one vector gives: `{ reason }` when refused, else the parts of the result the vector
 * pins, in the vectors' (snake_case) names.
 * @param {any} lib the package's exports
 * @param {any} file the parsed x-invoker.json
 * @param {any} vector one of file.vectors
 */
export async function runVector(lib, file, vector) {
  const options = {
    issuer: file.verifier.issuer,
    audience: vector.options?.audience ?? file.verifier.audience,
    clockToleranceSeconds: file.verifier.clock_tolerance_seconds,
    now: () => vector.now,
  }
  if (vector.keys === 'secret') options.secret = base64urlBytes(file.secret)
  else options.jwks = file.jwks
  if (vector.options?.algorithms) options.algorithms = vector.options.algorithms
  if (vector.options?.url_rewrite) options.urlRewrite = vector.options.url_rewrite
  if (vector.uses) options.replayCache = new lib.MemoryReplayCache({ now: () => vector.now })
  const verifier = lib.createInvokerVerifier(options)
  const headers = new Headers()
  if (vector.token !== null) headers.set('x-invoker', vector.token)
  const request = { method: vector.request.method, url: vector.request.url, headers }
  let result
  for (let use = 1; use <= (vector.uses ?? 1); use++) {
    try {
      result = await verifier.verify(request)
    } catch (error) {
      if (!(error instanceof lib.InvokerVerificationError)) throw error
      if (use < (vector.uses ?? 1)) return { reason: `first use refused: ${error.reason}` }
      return { reason: error.reason }
    }
  }
  return {
    invoker: result.invoker,
    auth: result.auth,
    body_verified: result.bodyVerified,
    mcp: result.mcp ?? null,
    request_id: result.requestId,
  }
}

/**
 * Every vector; `failures` lists those whose result differs from `expect`.
 * @param {any} lib
 * @param {any} file
 */
export async function runVectors(lib, file) {
  const failures = []
  for (const vector of file.vectors) {
    const got = await runVector(lib, file, vector)
    if (JSON.stringify(sorted(got)) !== JSON.stringify(sorted(vector.expect))) failures.push({ name: vector.name, expected: vector.expect, got })
  }
  return { total: file.vectors.length, failures }
}

/** @param {unknown} value */
function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted(value[k])]))
}
