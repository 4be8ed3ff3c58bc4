/**
 * A real `redis-server` (Debian's package) on a free loopback port, started and stopped by the
 * tests, plus a minimal RESP2 client. The client is raw on purpose: ioredis and node-redis
 * reshape replies (hgetall → object, RESP3 maps), which would break the exact Upstash REST
 * semantics the adapter must reproduce (see ../shared/notes/upstash-local-redis.md).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { freePort } from './ports.ts'

export type RespValue = string | number | null | RespValue[] | RedisReplyError

export class RedisReplyError {
  readonly message: string
  constructor(message: string) {
    this.message = message
  }
}

export class RedisServer {
  readonly port: number
  #child: ChildProcess | null = null

  constructor(port: number) {
    this.port = port
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort())
    await server.start()
    return server
  }

  async start(): Promise<void> {
    if (this.#child) return
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    )
    this.#child = child
    const deadline = Date.now() + 10_000
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = connect(this.port, '127.0.0.1', () => {
          socket.end()
          resolve(true)
        })
        socket.on('error', () => resolve(false))
      })
      if (up) return
      if (child.exitCode !== null) throw new Error('redis-server exited at start (is it installed?)')
      if (Date.now() > deadline) throw new Error('redis-server did not start')
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (!child) return
    this.#child = null
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }
}

/** One pipelined connection; replies come back in order. Reconnects on the next call after a loss. */
export class RespClient {
  readonly #port: number
  #socket: Socket | null = null
  /**
   * The connection being opened, shared: concurrent first sends must not each open their own
   * socket, since replies are matched to the one queue of pending commands in order (two sockets
   * answered replies to the wrong callers: a burst's first store calls got each other's answers).
   */
  #connecting: Promise<Socket> | null = null
  #buffer: Buffer = Buffer.alloc(0)
  #pending: { resolve: (v: RespValue) => void; reject: (e: Error) => void }[] = []

  constructor(port: number) {
    this.#port = port
  }

  #connection(): Promise<Socket> {
    if (this.#socket && !this.#socket.destroyed) return Promise.resolve(this.#socket)
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = null
    })
    return this.#connecting
  }

  async #open(): Promise<Socket> {
    const socket = connect(this.#port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    socket.setNoDelay(true)
    this.#buffer = Buffer.alloc(0)
    socket.on('data', (chunk) => this.#onData(chunk))
    const fail = (): void => {
      const pending = this.#pending
      this.#pending = []
      if (this.#socket === socket) this.#socket = null
      for (const p of pending) p.reject(new Error('connection to redis lost'))
    }
    socket.on('error', fail)
    socket.on('close', fail)
    this.#socket = socket
    return socket
  }

  /** Sends one command; its reply. */
  async one(command: string[]): Promise<RespValue> {
    const [reply] = await this.send([command])
    return reply as RespValue
  }

  /** Sends several commands in one write (MULTI…EXEC blocks cannot interleave with others). */
  async send(commands: string[][]): Promise<RespValue[]> {
    const socket = await this.#connection()
    const replies = commands.map(
      () => new Promise<RespValue>((resolve, reject) => this.#pending.push({ resolve, reject })),
    )
    socket.write(Buffer.concat(commands.map(encodeCommand)))
    return Promise.all(replies)
  }

  close(): void {
    this.#socket?.destroy()
    this.#socket = null
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    for (;;) {
      const parsed = parseReply(this.#buffer, 0)
      if (parsed === null) return
      this.#buffer = this.#buffer.subarray(parsed.end)
      this.#pending.shift()?.resolve(parsed.value)
    }
  }
}

function encodeCommand(args: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8')
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

function parseReply(buffer: Buffer, start: number): { value: RespValue; end: number } | null {
  const lineEnd = buffer.indexOf('\r\n', start)
  if (lineEnd < 0) return null
  const type = String.fromCharCode(buffer[start] as number)
  const line = buffer.toString('utf8', start + 1, lineEnd)
  const next = lineEnd + 2
  switch (type) {
    case '+':
      return { value: line, end: next }
    case '-':
      return { value: new RedisReplyError(line), end: next }
    case ':':
      return { value: Number(line), end: next }
    case '$': {
      const length = Number(line)
      if (length < 0) return { value: null, end: next }
      if (buffer.length < next + length + 2) return null
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 }
    }
    case '*': {
      const count = Number(line)
      if (count < 0) return { value: null, end: next }
      const items: RespValue[] = []
      let at = next
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, at)
        if (item === null) return null
        items.push(item.value)
        at = item.end
      }
      return { value: items, end: at }
    }
    default:
      throw new Error(`unexpected RESP type ${type}`)
  }
}
