/**
 * Reading an MCP request's body to decide on it, without changing what the backend receives:
 * the gateway reads a clone (its own branch of the body stream, up to the pack's limit) and the
 * request keeps the other branch, so the backend gets the very bytes the client sent, streamed
 * by forward as any body is, and a signed body is still checked against its Content-Digest there.
 *
 * @module
 */
import { parseMessage, type ParsedMessage } from './json-rpc.ts'

export async function readMessage(request: Request, maxBytes: number): Promise<ParsedMessage> {
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (declared > maxBytes) return { ok: false, problem: 'too_large', id: null }
  const bytes = await readUpTo(request.clone().body as ReadableStream<Uint8Array>, maxBytes)
  if (bytes === null) return { ok: false, problem: 'too_large', id: null }
  return parseMessage(bytes)
}

/** The whole stream, or `null` as soon as it grows past `maxBytes` (the rest is never read). */
export async function readUpTo(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array | null> {
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel()
      return null
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}
