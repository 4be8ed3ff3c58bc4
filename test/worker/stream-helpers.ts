/**
 * Clients of long streams through the gateway in workerd (issue 15 tests): an SSE reader that
 * keeps what arrived and when the stream ended, a WebSocket client that keeps messages and its
 * close, and the `stream_end` log lines.
 */
import { expect, vi } from 'vitest'
import { backendOrigin, type Gateway } from './harness.ts'

export interface SseClient {
  response: Response
  /** Everything received so far. */
  text(): string
  /** Resolves when the body ends (cleanly or not), with the time it ended. */
  ended: Promise<{ at: number; error: boolean }>
  waitFor(fragment: string, ms?: number): Promise<boolean>
  /** The client goes away. */
  close(): Promise<void>
}

export async function openSse(
  gw: Gateway,
  path: string,
  init: Parameters<Gateway['fetch']>[1] = {},
): Promise<SseClient> {
  const response = await gw.fetch(path, init)
  let text = ''
  let closing = false
  const reader = response.body === null ? null : response.body.pipeThrough(new TextDecoderStream()).getReader()
  const ended = (async () => {
    if (reader === null) return { at: Date.now(), error: false }
    try {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += chunk.value
      return { at: Date.now(), error: false }
    } catch {
      return { at: Date.now(), error: !closing }
    }
  })()
  return {
    response,
    text: () => text,
    ended,
    async waitFor(fragment, ms = 5_000) {
      const deadline = Date.now() + ms
      while (!text.includes(fragment) && Date.now() < deadline) await sleep(20)
      return text.includes(fragment)
    },
    async close() {
      closing = true
      await reader?.cancel().catch(() => undefined)
      await ended
    },
  }
}

export interface WsClient {
  response: Response
  messages: string[]
  /** The close the client saw, and when. */
  closed: Promise<{ code: number; reason: string; at: number }>
  send(text: string): void
  waitForMessages(count: number, ms?: number): Promise<boolean>
  close(): void
}

export async function openWs(gw: Gateway, path: string, headers: Record<string, string> = {}): Promise<WsClient> {
  const response = await gw.fetch(path, { headers: { upgrade: 'websocket', ...headers } })
  const socket = response.webSocket
  const messages: string[] = []
  let resolveClosed: (value: { code: number; reason: string; at: number }) => void = () => undefined
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => (resolveClosed = resolve))
  if (socket !== null) {
    socket.accept()
    socket.addEventListener('message', (event) => {
      messages.push(typeof event.data === 'string' ? event.data : `<${(event.data as ArrayBuffer).byteLength} bytes>`)
    })
    socket.addEventListener('close', (event) => {
      resolveClosed({ code: event.code, reason: event.reason, at: Date.now() })
      try {
        socket.close(event.code === 1005 ? 1000 : event.code, event.reason)
      } catch {
        // already closed
      }
    })
  }
  return {
    response,
    messages,
    closed,
    send: (text) => socket?.send(text),
    async waitForMessages(count, ms = 5_000) {
      const deadline = Date.now() + ms
      while (messages.length < count && Date.now() < deadline) await sleep(20)
      return messages.length >= count
    },
    close: () => socket?.close(1000, 'bye'),
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Whether the backend saw signal `name` within `ms`. */
export async function backendSaw(name: string, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if ((await (await fetch(`${backendOrigin()}/_control/seen?name=${encodeURIComponent(name)}`)).text()) === 'true')
      return true
    if (Date.now() > deadline) return false
    await sleep(50)
  }
}

/** The JSON log lines written to `console.log` since the spy was set, of one kind. */
export function logLines(calls: unknown[][], event: 'stream_end' | 'request'): Record<string, unknown>[] {
  return calls
    .map((call) => {
      try {
        return JSON.parse(String(call[0])) as Record<string, unknown>
      } catch {
        return null
      }
    })
    .filter(
      (line): line is Record<string, unknown> =>
        line !== null &&
        (event === 'stream_end' ? line['event'] === 'stream_end' : line['event'] === undefined && 'decision' in line),
    )
}

/** What became of a stream whose credential expires while its source is down. */
export interface PastExpiry {
  ended: boolean
  /** Still open, or ended more than the bound after the expiry. */
  late: boolean
  text: string
  /** The `stream_end` log lines written meanwhile. */
  ends: Record<string, unknown>[]
}

/**
 * Opens an SSE answer, cuts the credential's source (`cut`), and waits until the stream ends or
 * `boundMs` (and two seconds more) past `expiresAt` have passed; a stream still open is closed.
 */
export async function streamPastExpiry(
  gw: Gateway,
  path: string,
  init: Parameters<Gateway['fetch']>[1],
  cut: () => unknown,
  expiresAt: number,
  boundMs: number,
): Promise<PastExpiry> {
  const log = vi.spyOn(console, 'log')
  try {
    const sse = await openSse(gw, path, init)
    expect(sse.response.status).toBe(200)
    await cut()
    const wait = expiresAt + boundMs + 2_000 - Date.now()
    const end = await Promise.race([sse.ended, sleep(wait).then(() => null)])
    const text = sse.text()
    if (end === null) await sse.close()
    return {
      ended: end !== null,
      late: end === null || end.at - expiresAt > boundMs,
      text,
      ends: logLines(log.mock.calls, 'stream_end'),
    }
  } finally {
    log.mockRestore()
  }
}
