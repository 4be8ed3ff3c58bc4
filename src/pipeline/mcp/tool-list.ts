/**
 * Filtered tool lists: the answer to `tools/list` loses the tools this caller may not call,
 * whether it comes as one JSON object or as an event of an SSE stream (the POST's own stream, or
 * the GET stream a client resumes with Last-Event-ID). Everything else passes unchanged: the
 * JSON answer is rewritten only when a tool is removed, and of a stream only the event carrying
 * a list is; every other event goes on, byte for byte, the moment its last line has arrived.
 *
 * Fails closed: an answer that should carry a list but cannot be read (too large, not JSON) is
 * never passed on unfiltered, and of a stream an event whose data is not JSON but may name
 * `tools` is not passed on.
 *
 * @module
 */
import { GatewayError } from '../../errors/reasons.ts'
import { chunkReader, concat, readUpTo } from './body.ts'
import type { JsonRpcId } from '../../http/json-rpc.ts'
import { filterToolListBytes } from './tool-list-bytes.ts'

export type Allowance = (tool: string) => boolean

/**
 * The message without the tools `allowed` refuses, or `null` when it carries no tool list or
 * loses nothing. A list entry without a string name is dropped: it names nothing a policy allows.
 */
export function filterToolList(message: unknown, allowed: Allowance): unknown {
  if (Array.isArray(message)) {
    let changed = false
    const out = message.map((item) => {
      const filtered = filterToolList(item, allowed)
      if (filtered === null) return item
      changed = true
      return filtered
    })
    return changed ? out : null
  }
  if (typeof message !== 'object' || message === null) return null
  const result = (message as { result?: unknown }).result
  if (typeof result !== 'object' || result === null) return null
  const tools = (result as { tools?: unknown }).tools
  if (!Array.isArray(tools)) return null
  const kept = tools.filter((tool: unknown) => {
    const name = typeof tool === 'object' && tool !== null ? (tool as { name?: unknown }).name : undefined
    return typeof name === 'string' && allowed(name)
  })
  if (kept.length === tools.length) return null
  return { ...(message as object), result: { ...(result as object), tools: kept } }
}

function mediaType(headers: Headers): string {
  return (headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

export interface ListFilter {
  allowed: Allowance
  /** Largest JSON answer or single SSE event the gateway holds to filter it. */
  maxBytes: number
  /** The id of the `tools/list` request, for the error a client gets when filtering fails. */
  id: JsonRpcId | undefined
  /** A POST that asked `tools/list`: its answer must be a list it can filter (else it is refused). */
  expectsList: boolean
}

/**
 * The upstream answer with another body. Content-Length goes: the body is new (or was read, and
 * a compressed one decoded), and the runtime frames it again.
 */
function rebuilt(upstream: Response, body: BodyInit): Response {
  const headers = new Headers(upstream.headers)
  headers.delete('content-length')
  return new Response(body, { status: upstream.status, statusText: upstream.statusText, headers })
}

/** What forward sends back for a request whose answer may carry a tool list. */
export async function filteredResponse(upstream: Response, filter: ListFilter): Promise<Response> {
  if (upstream.body === null || upstream.status === 204) return new Response(upstream.body, upstream)
  const type = mediaType(upstream.headers)
  // Whatever the status: a lenient client may read a list from an error answer too. A GET's
  // answer is the client's event stream whatever type it claims (the SDK client reads any 2xx
  // body of its GET as SSE), so it is filtered as one.
  if (type === 'text/event-stream' || (!filter.expectsList && upstream.ok))
    return rebuilt(upstream, filteredSseBody(upstream.body, filter))
  if (type === 'application/json' && filter.expectsList) return filteredJson(upstream, filter)
  // A list in another form could be read by a lenient client: it is not passed on. An error
  // answer in another form (a proxy's error page) is the backend's own.
  if (filter.expectsList && upstream.ok && upstream.status !== 202)
    throw new GatewayError({
      reason: 'tool_list_unfilterable',
      problem: `answer of type ${type || 'none'}`,
      id: filter.id,
    })
  return new Response(upstream.body, upstream)
}

const utf8 = new TextDecoder()
const encoder = new TextEncoder()

async function filteredJson(upstream: Response, filter: ListFilter): Promise<Response> {
  // A declared length within the limit is read in one native call; else chunk by chunk, bounded.
  // Not a compressed one: the runtime decodes it, and its length says nothing of what it becomes.
  const encoded = (upstream.headers.get('content-encoding') ?? 'identity') !== 'identity'
  const declared = encoded ? NaN : Number(upstream.headers.get('content-length') ?? NaN)
  const bytes =
    declared > filter.maxBytes
      ? null
      : declared >= 0
        ? new Uint8Array(await upstream.arrayBuffer())
        : await readUpTo(upstream.body as ReadableStream<Uint8Array>, filter.maxBytes)
  if (bytes === null || bytes.byteLength > filter.maxBytes)
    throw new GatewayError({
      reason: 'tool_list_unfilterable',
      problem: `JSON answer over ${filter.maxBytes} bytes`,
      id: filter.id,
    })
  const fast = filterToolListBytes(bytes, 0, bytes.byteLength, filter.allowed)
  if (fast !== null) return rebuilt(upstream, fast.changed ? fast.bytes : bytes)
  let message: unknown
  try {
    message = JSON.parse(utf8.decode(bytes))
  } catch {
    throw new GatewayError({
      reason: 'tool_list_unfilterable',
      problem: 'JSON answer that does not parse',
      id: filter.id,
    })
  }
  const filtered = filterToolList(message, filter.allowed)
  return rebuilt(upstream, filtered === null ? bytes : JSON.stringify(filtered))
}

const LF = 0x0a
const CR = 0x0d

/**
 * An SSE stream (WHATWG HTML §9.2.6) cut into events at their blank line. A client dispatches an
 * event only once its blank line has arrived, so holding an event until then delays nothing it
 * could act on; each event is passed on at that moment, as it came, unless its data is a JSON-RPC
 * answer carrying a tool list, which is rewritten. An event that grows past `maxBytes` ends the
 * stream (it could be a list the gateway cannot read). Line ends are found with `indexOf`
 * (native), not byte by byte: a list event is large.
 */
class SseEvents {
  #held: Uint8Array[] = []
  #heldBytes = 0
  #lineEmpty = true
  #afterCR = false
  /** The held event ended with a CR at the end of a chunk: an LF may still belong to it. */
  #endedAtCR = false
  readonly #filter: ListFilter

  constructor(filter: ListFilter) {
    this.#filter = filter
  }

  /** Takes the next chunk, handing complete events to `out`; false when an event outgrew the limit. */
  push(chunk: Uint8Array, out: (bytes: Uint8Array) => void): boolean {
    let start = 0
    let i = 0
    if (this.#endedAtCR) {
      this.#endedAtCR = false
      this.#afterCR = false
      start = i = chunk[0] === LF ? 1 : 0
      this.#emit(chunk.subarray(0, start), out)
    }
    let nextLF = -2
    let nextCR = -2
    while (i < chunk.length) {
      if (this.#afterCR) {
        this.#afterCR = false
        // The LF of a CRLF belongs to the line end that the CR began.
        if (chunk[i] === LF) {
          i++
          continue
        }
      }
      if (nextLF !== -1 && nextLF < i) nextLF = chunk.indexOf(LF, i)
      if (nextCR !== -1 && nextCR < i) nextCR = chunk.indexOf(CR, i)
      const at = nextLF === -1 ? nextCR : nextCR === -1 ? nextLF : Math.min(nextLF, nextCR)
      if (at === -1) {
        this.#lineEmpty = false
        break
      }
      if (at > i) this.#lineEmpty = false
      const byte = chunk[at] as number
      i = at + 1
      if (byte === CR) this.#afterCR = true
      if (!this.#lineEmpty) {
        this.#lineEmpty = true
        continue
      }
      // A blank line: the event ends after its line end (a CRLF's LF included).
      if (byte === CR && i === chunk.length) {
        this.#endedAtCR = true
        return this.#hold(chunk.subarray(start))
      }
      if (byte === CR && chunk[i] === LF) {
        this.#afterCR = false
        i++
      }
      this.#emit(chunk.subarray(start, i), out)
      start = i
    }
    return start < chunk.length ? this.#hold(chunk.subarray(start)) : true
  }

  /** The stream ended; an event it ended inside is dropped by spec clients, but filtered all the same. */
  end(out: (bytes: Uint8Array) => void): void {
    if (this.#heldBytes > 0) this.#emit(new Uint8Array(0), out)
  }

  #emit(tail: Uint8Array, out: (bytes: Uint8Array) => void): void {
    const event = this.#held.length === 0 ? tail : concat([...this.#held, tail], this.#heldBytes + tail.byteLength)
    this.#held = []
    this.#heldBytes = 0
    const rewritten = rewrittenEvent(event, this.#filter.allowed)
    if (rewritten !== DROPPED) out(rewritten ?? event)
  }

  #hold(bytes: Uint8Array): boolean {
    this.#heldBytes += bytes.byteLength
    if (this.#heldBytes > this.#filter.maxBytes) return false
    this.#held.push(bytes.slice())
    return true
  }
}

/** An SSE body with its tool lists filtered (see {@link SseEvents}), read in as few chunks as may be. */
export function filteredSseBody(body: ReadableStream<Uint8Array>, filter: ListFilter): ReadableStream<Uint8Array> {
  const reader = chunkReader(body)
  const events = new SseEvents(filter)
  return new ReadableStream<Uint8Array>({
    // Reads until an event is complete (or the body ends): a pull that enqueues nothing is not
    // reliably followed by another one in workerd (a stream cut into tiny chunks stalled).
    async pull(controller) {
      let enqueued = false
      const out = (bytes: Uint8Array): void => {
        enqueued = true
        controller.enqueue(bytes)
      }
      while (!enqueued) {
        const chunk = await reader.read()
        if (chunk === null) {
          events.end(out)
          controller.close()
          return
        }
        if (!events.push(chunk, out)) {
          controller.error(new Error(`SSE event over ${filter.maxBytes} bytes`))
          await reader.cancel()
          return
        }
      }
    },
    cancel: (reason) => reader.cancel(reason),
  })
}

const DATA = [0x64, 0x61, 0x74, 0x61, 0x3a] // "data:"

/**
 * Where the value of each `data:` line of an event lies (after "data:" and one space). A UTF-8
 * byte order mark before the first line is skipped, as clients skip it at a stream's start
 * (WHATWG HTML §9.2.6); anywhere else it is skipped too, which can only filter more.
 */
function dataValues(event: Uint8Array): { start: number; end: number }[] {
  const values: { start: number; end: number }[] = []
  let line = event[0] === 0xef && event[1] === 0xbb && event[2] === 0xbf ? 3 : 0
  while (line < event.length) {
    const lf = event.indexOf(LF, line)
    const cr = event.indexOf(CR, line)
    const end = lf === -1 ? (cr === -1 ? event.length : cr) : cr === -1 ? lf : Math.min(lf, cr)
    if (end - line >= DATA.length && DATA.every((byte, k) => event[line + k] === byte)) {
      const start = line + DATA.length + (event[line + DATA.length] === 0x20 ? 1 : 0)
      values.push({ start, end })
    }
    line = end + (event[end] === CR && event[end + 1] === LF ? 2 : 1)
  }
  return values
}

/**
 * An event that is not passed on: its data is not JSON, so the gateway cannot filter it, but it
 * could be a list to a lenient client (a raw line break or a NUL inside it, which Python's
 * `json.loads(strict=False)` reads): it names `tools`, spelled out or with `\u` escapes.
 */
const DROPPED = new Uint8Array(0)
const MAY_NAME_TOOLS = /tools|\\u/i

/** The event rewritten without the refused tools, `null` to pass it as it came, or {@link DROPPED}. */
function rewrittenEvent(event: Uint8Array, allowed: Allowance): Uint8Array | null {
  const values = dataValues(event)
  if (values.length === 0) return null
  if (values.length === 1) {
    // The usual event: one data line, filtered in place; the other lines stay as they came.
    const { start, end } = values[0] as { start: number; end: number }
    const fast = filterToolListBytes(event, start, end, allowed)
    if (fast !== null)
      return fast.changed
        ? concat(
            [event.subarray(0, start), fast.bytes, event.subarray(end)],
            start + fast.bytes.byteLength + event.byteLength - end,
          )
        : null
  }
  return rewrittenEventSlowly(event, allowed)
}

function rewrittenEventSlowly(event: Uint8Array, allowed: Allowance): Uint8Array | null {
  // The text decoder drops a leading byte order mark, as clients do.
  const text = utf8.decode(event)
  const lines = text.split(/\r\n|\r|\n/)
  const data: string[] = []
  for (const line of lines) if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5))
  const joined = data.join('\n')
  // No data (a stream's priming event, a keep-alive): nothing to read.
  if (joined.trim() === '') return null
  let message: unknown
  try {
    message = JSON.parse(joined)
  } catch {
    return MAY_NAME_TOOLS.test(joined) ? DROPPED : null
  }
  const filtered = filterToolList(message, allowed)
  if (filtered === null) return null
  // The other fields (event, id, retry, comments) stay as they were; the data becomes one line.
  const kept: string[] = []
  let placed = false
  for (const line of lines) {
    if (line === '') continue
    if (!line.startsWith('data:')) kept.push(line)
    else if (!placed) {
      kept.push(`data: ${JSON.stringify(filtered)}`)
      placed = true
    }
  }
  return encoder.encode(kept.join('\n') + '\n\n')
}
