/**
 * Reading an MCP request's body to decide on it, without changing what the backend receives:
 * the gateway reads a clone (its own branch of the body stream, up to the pack's limit) and the
 * request keeps the other branch, so the backend gets the very bytes the client sent, streamed
 * by forward as any body is, and a signed body is still checked against its Content-Digest there.
 *
 * @module
 */
import { BODY_READ_BYTES } from '../../constants.ts'
import { readBounded, unreadableBody } from '../../read-body.ts'
import { parseMessage, type ParsedMessage } from './json-rpc.ts'

/**
 * The message, read from a clone of the request (the backend still receives the original) within
 * `maxBytes`; a body that stalls for `idleMs` or breaks off is the request's error (408, 400),
 * as it would be on its way to the backend.
 */
export async function readMessage(request: Request, maxBytes: number, idleMs: number): Promise<ParsedMessage> {
  const read = await readBounded(request.clone(), maxBytes, idleMs)
  if (read.ok) return parseMessage(read.bytes)
  if (read.problem === 'too_large') return { ok: false, problem: 'too_large', id: null }
  throw unreadableBody(read.problem, maxBytes, idleMs)
}

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
