/**
 * Reading an MCP request's body to decide on it, without changing what the backend receives:
 * the gateway reads a clone (its own branch of the body stream, up to the pack's limit) and the
 * request keeps the other branch, so the backend gets the very bytes the client sent, streamed
 * by forward as any body is, and a signed body is still checked against its Content-Digest there.
 *
 * @module
 */
import { BODY_READ_BYTES } from '../../constants.ts'
import { parseMessage, type ParsedMessage } from './json-rpc.ts'

export async function readMessage(request: Request, maxBytes: number): Promise<ParsedMessage> {
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (declared > maxBytes) return { ok: false, problem: 'too_large', id: null }
  const clone = request.clone()
  // A declared length within the limit is read in one native call (the runtime holds the body to
  // it); a body of unknown length is read chunk by chunk and refused as soon as it passes the limit.
  const bytes =
    declared >= 0
      ? new Uint8Array(await clone.arrayBuffer())
      : await readUpTo(clone.body as ReadableStream<Uint8Array>, maxBytes)
  if (bytes === null || bytes.byteLength > maxBytes) return { ok: false, problem: 'too_large', id: null }
  return parseMessage(bytes)
}

/** Reads a stream in as few chunks as the runtime gives: BYOB where the stream is a byte stream. */
export interface ChunkReader {
  /** The next chunk, or `null` at the end. */
  read(): Promise<Uint8Array | null>
  cancel(reason?: unknown): Promise<void>
}

export function chunkReader(stream: ReadableStream<Uint8Array>): ChunkReader {
  let byob: ReadableStreamBYOBReader | null = null
  try {
    byob = stream.getReader({ mode: 'byob' })
  } catch {
    // A stream made in JavaScript (not a byte stream): read it as it comes.
  }
  if (byob !== null) {
    const reader = byob
    return {
      async read() {
        const { done, value } = await reader.read(new Uint8Array(BODY_READ_BYTES))
        return done ? null : (value as Uint8Array)
      },
      cancel: (reason) => reader.cancel(reason),
    }
  }
  const reader = stream.getReader()
  return {
    async read() {
      const { done, value } = await reader.read()
      return done ? null : value
    },
    cancel: (reason) => reader.cancel(reason),
  }
}

/** The whole stream, or `null` as soon as it grows past `maxBytes` (the rest is never read). */
export async function readUpTo(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array | null> {
  const reader = chunkReader(stream)
  const chunks: Uint8Array[] = []
  let total = 0
  for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) {
    total += chunk.byteLength
    if (total > maxBytes) {
      await reader.cancel()
      return null
    }
    chunks.push(chunk)
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : concat(chunks, total)
}

/** `chunks` end to end, `total` bytes in all. */
export function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}
