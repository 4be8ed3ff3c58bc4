import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../errors/reasons.ts'
import { filteredResponse, filteredSseBody, filterToolList, type ListFilter } from './tool-list.ts'

const allowed = (name: string): boolean => !name.startsWith('secret')
const list = (...names: string[]): string =>
  JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    result: { tools: names.map((name) => ({ name, inputSchema: { type: 'object' } })), nextCursor: 'c' },
  })
const filter = (overrides: Partial<ListFilter> = {}): ListFilter => ({
  allowed,
  maxBytes: 1024 * 1024,
  id: 1,
  expectsList: true,
  ...overrides,
})

describe('filterToolList', () => {
  it('removes the tools the caller may not call, keeping the rest of the message', () => {
    expect(filterToolList(JSON.parse(list('a', 'secret_b', 'c')), allowed)).toEqual({
      jsonrpc: '2.0',
      id: 1,
      result: {
        tools: [
          { name: 'a', inputSchema: { type: 'object' } },
          { name: 'c', inputSchema: { type: 'object' } },
        ],
        nextCursor: 'c',
      },
    })
  })

  it('answers null when nothing changes or there is no list', () => {
    expect(filterToolList(JSON.parse(list('a', 'c')), allowed)).toBeNull()
    expect(filterToolList({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' }, allowed)).toBeNull()
    expect(filterToolList({ jsonrpc: '2.0', id: 1, result: { content: [] } }, allowed)).toBeNull()
    expect(filterToolList('text', allowed)).toBeNull()
  })

  it('drops entries without a string name (they name nothing a policy allows)', () => {
    expect(
      filterToolList({ result: { tools: [{ name: 'a' }, { title: 'x' }, 'tool', { name: 7 }] } }, allowed),
    ).toEqual({ result: { tools: [{ name: 'a' }] } })
  })

  it('filters every message of an array', () => {
    expect(filterToolList([JSON.parse(list('a')), JSON.parse(list('secret'))], allowed)).toEqual([
      JSON.parse(list('a')),
      { jsonrpc: '2.0', id: 1, result: { tools: [], nextCursor: 'c' } },
    ])
  })
})

async function through(chunks: string[], overrides: Partial<ListFilter> = {}): Promise<string> {
  const encoder = new TextEncoder()
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
      controller.close()
    },
  })
  return new Response(filteredSseBody(stream, filter(overrides))).text()
}

describe('filteredSseBody', () => {
  const prime = 'id: p\ndata: \n\n'
  const comment = ': keep-alive\n\n'
  const note =
    'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"data":"secret_x"}}\n\n'
  const listEvent = `event: message\nid: 7\ndata: ${list('a', 'secret_b')}\n\n`
  const filtered = `event: message\nid: 7\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'a', inputSchema: { type: 'object' } }], nextCursor: 'c' } })}\n\n`
  const stream = prime + comment + note + listEvent + note

  it('rewrites only the event carrying the list, wherever the chunks are cut', async () => {
    const expected = prime + comment + note + filtered + note
    expect(await through([stream])).toBe(expected)
    for (let cut = 1; cut < stream.length; cut++) {
      expect(await through([stream.slice(0, cut), stream.slice(cut)]), `cut at ${cut}`).toBe(expected)
    }
    expect(await through([...stream])).toBe(expected)
  })

  it('reads CRLF and CR line ends (WHATWG HTML §9.2.6), and passes other events as they came', async () => {
    for (const ending of ['\r\n', '\r']) {
      const written = stream.replaceAll('\n', ending)
      const expected = (prime + comment + note + filtered + note).replaceAll('\n', ending)
      expect(await through([written]), JSON.stringify(ending)).toBe(expected)
      expect(await through([...written]), JSON.stringify(ending)).toBe(expected)
    }
  })

  it('joins a list spread over several data lines', async () => {
    const pretty = JSON.stringify(JSON.parse(list('a', 'secret_b')), null, 1)
    const event =
      pretty
        .split('\n')
        .map((line) => `data: ${line}`)
        .join('\n') + '\n\n'
    const out = await through([event])
    expect(out).not.toContain('secret_b')
    expect(out.split('\n').filter((line) => line.startsWith('data:'))).toHaveLength(1)
    expect(out).toContain('"name":"a"')
  })

  it('filters a list in a stream that ends without its blank line', async () => {
    expect(await through([`data: ${list('a', 'secret_b')}`])).not.toContain('secret_b')
  })

  it('ends the stream rather than pass an event it cannot hold', async () => {
    await expect(through([`data: ${list('a', 'secret_b')}`], { maxBytes: 64 })).rejects.toThrow(/over 64 bytes/)
  })
})

describe('filteredResponse', () => {
  const json = (body: string, type = 'application/json', status = 200): Response =>
    new Response(body, {
      status,
      headers: { 'content-type': type, 'content-length': String(body.length), 'mcp-session-id': 's1' },
    })

  it('passes an unchanged JSON list byte for byte, and rewrites one that loses tools', async () => {
    const same = ' ' + list('a') + '\n'
    expect(await (await filteredResponse(json(same), filter())).text()).toBe(same)
    const rewritten = await filteredResponse(json(list('a', 'secret_b')), filter())
    expect(rewritten.headers.get('content-length')).toBeNull()
    expect(rewritten.headers.get('mcp-session-id')).toBe('s1')
    expect(((await rewritten.json()) as { result: { tools: unknown[] } }).result.tools).toHaveLength(1)
  })

  it('refuses to pass a list it cannot filter: too large, not JSON, or of another type', async () => {
    for (const [response, problem] of [
      [json(list('a')), /over 10 bytes/],
      [json('{"result":', 'application/json'), /does not parse/],
      [json(list('secret'), 'text/plain'), /text\/plain/],
    ] as const) {
      const error = await filteredResponse(
        response,
        filter({ maxBytes: problem.source.includes('10') ? 10 : 1024 }),
      ).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(GatewayError)
      expect((error as GatewayError).detail).toMatchObject({
        reason: 'tool_list_unfilterable',
        problem: expect.stringMatching(problem),
        id: 1,
      })
    }
  })

  it('reads an answer of unknown length up to the limit, and refuses it past the limit', async () => {
    const streamed = (text: string): Response => {
      const bytes = new TextEncoder().encode(text)
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < bytes.length; at += 7) controller.enqueue(bytes.slice(at, at + 7))
          controller.close()
        },
      })
      return new Response(body, { headers: { 'content-type': 'application/json' } })
    }
    const filtered = await filteredResponse(streamed(list('a', 'secret_b')), filter())
    expect(((await filtered.json()) as { result: { tools: unknown[] } }).result.tools).toHaveLength(1)
    const error = await filteredResponse(streamed(list('a', 'secret_b')), filter({ maxBytes: 50 })).catch(
      (e: unknown) => e,
    )
    expect((error as GatewayError).detail).toMatchObject({
      reason: 'tool_list_unfilterable',
      problem: 'JSON answer over 50 bytes',
    })
  })

  it('filters a list in an error answer too (red team 3, F3), and passes other error answers as they are', async () => {
    const error = await filteredResponse(json(list('a', 'secret_b'), 'application/json', 500), filter())
    expect(error.status).toBe(500)
    expect(((await error.json()) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name)).toEqual(
      ['a'],
    )
    const page = await filteredResponse(json('<h1>Bad Gateway</h1>', 'text/html', 502), filter())
    expect(page.status).toBe(502)
    expect(await page.text()).toBe('<h1>Bad Gateway</h1>')
  })

  it('does not pass an event whose data is not JSON: a lenient client might read a list in it (red team 4)', async () => {
    const split =
      'data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"secret_b","description":"a\ndata: b"}]}}\n\n'
    const nul = `data: ${list('secret_b')}\u0000\n\n`
    const kept = 'id: p\ndata: \n\n: keep-alive\n\n'
    const escaped = 'data: {"result":{"\\u0074ools":[{"name":"secret_b"}]},}\n\n'
    for (const event of [split, nul, escaped]) {
      const out = await through([kept + event + kept])
      expect(out).not.toContain('secret_b')
      expect(out).toBe(kept + kept)
    }
    // Data that is not JSON and names no tools passes as it came.
    expect(await through([kept + 'data: first\n\n'])).toBe(kept + 'data: first\n\n')
  })

  it("reads a GET's answer as the event stream it is to the client, whatever type it claims (red team 4)", async () => {
    for (const type of ['application/octet-stream', 'text/plain', '']) {
      const body = `data: ${list('a', 'secret_b')}\n\n`
      const upstream = new Response(body, { headers: type === '' ? {} : { 'content-type': type } })
      if (type === '') upstream.headers.delete('content-type')
      const out = await (await filteredResponse(upstream, filter({ expectsList: false }))).text()
      expect(out, type).not.toContain('secret_b')
      expect(out, type).toContain('"name":"a"')
    }
  })

  it('filters a list in an SSE stream that starts with a byte order mark (red team 3, F3)', async () => {
    const bom = '\uFEFF'
    const out = await through([`${bom}data: ${list('a', 'secret_b')}\n\n`])
    expect(out).not.toContain('secret_b')
    expect(out).toContain('"name":"a"')
  })

  it('leaves errors, empty answers and, on a GET stream, non-SSE answers alone', async () => {
    expect((await filteredResponse(json(list('secret'), 'application/json', 400), filter())).status).toBe(400)
    expect((await filteredResponse(new Response(null, { status: 202 }), filter())).status).toBe(202)
    // A GET's 2xx answer is read as SSE whatever its type: JSON without data lines passes as it came.
    expect(await (await filteredResponse(json(list('secret')), filter({ expectsList: false }))).text()).toBe(
      list('secret'),
    )
  })
})
