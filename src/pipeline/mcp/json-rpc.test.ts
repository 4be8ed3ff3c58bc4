import { describe, expect, it } from 'vitest'
import { hasDuplicateMember } from './i-json.ts'
import { parseMessage } from './json-rpc.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const parse = (text: string) => parseMessage(bytes(text))

describe('parseMessage', () => {
  it('reads the method, the id and the tool of a tools/call', () => {
    expect(
      parse('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}'),
    ).toEqual({ ok: true, call: { method: 'tools/call', tool: 'echo', id: 7 } })
    expect(parse('{"jsonrpc":"2.0","id":"a","method":"tools/list"}')).toEqual({
      ok: true,
      call: { method: 'tools/list', tool: null, id: 'a' },
    })
    expect(parse('{"jsonrpc":"2.0","method":"notifications/initialized"}')).toEqual({
      ok: true,
      call: { method: 'notifications/initialized', tool: null, id: undefined },
    })
    expect(parse('{"jsonrpc":"2.0","id":3,"result":{}}')).toEqual({
      ok: true,
      call: { method: null, tool: null, id: undefined },
    })
  })

  it('reads a tools/call sent as a notification too (no id): it must be judged like any call', () => {
    expect(parse('{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}')).toEqual({
      ok: true,
      call: { method: 'tools/call', tool: 'x', id: undefined },
    })
  })

  it.each([
    ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'not_utf8'],
    ['a byte order mark', bytes('\uFEFF{"jsonrpc":"2.0","method":"ping","id":1}'), 'not_json'],
    ['not JSON', bytes('{"method":'), 'not_json'],
    ['a batch (none in MCP 2025-11-25)', bytes('[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]'), 'batch'],
    ['a JSON string', bytes('"tools/call"'), 'not_a_message'],
    ['a method that is no string', bytes('{"jsonrpc":"2.0","id":1,"method":["tools/call"]}'), 'not_a_message'],
    ['an id that is an object', bytes('{"jsonrpc":"2.0","id":{},"method":"ping"}'), 'not_a_message'],
    [
      'a tools/call without a name',
      bytes('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}'),
      'tool_name_missing',
    ],
    [
      'a tools/call whose name is a number',
      bytes('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}'),
      'tool_name_missing',
    ],
    [
      'a tools/call with params as a list',
      bytes('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["echo"]}'),
      'tool_name_missing',
    ],
    [
      'two names (parsers disagree on which counts)',
      bytes('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_record"}}'),
      'duplicate_member',
    ],
    [
      'two names, one spelled with an escape',
      bytes('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","na\\u006de":"delete_record"}}'),
      'duplicate_member',
    ],
    [
      'two methods',
      bytes('{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"x"}}'),
      'duplicate_member',
    ],
    [
      'a tool name longer than 256 characters (it would reach the log, X-Invoker and rate-limit keys)',
      bytes(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"${'t'.repeat(257)}"}}`),
      'name_too_long',
    ],
    [
      'a method longer than 256 characters',
      bytes(`{"jsonrpc":"2.0","id":1,"method":"${'m'.repeat(257)}"}`),
      'name_too_long',
    ],
  ])('refuses %s', (_, body, problem) => {
    expect(parseMessage(body)).toMatchObject({ ok: false, problem })
  })

  it('echoes the id of a request it refuses when it could read one', () => {
    expect(parse('{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{}}')).toEqual({
      ok: false,
      problem: 'tool_name_missing',
      id: 9,
    })
  })
})

describe('hasDuplicateMember (RFC 7493 §2.3)', () => {
  it.each([
    ['{"a":1,"b":2}', false],
    ['{"a":{"a":1},"b":[{"a":1},{"a":2}]}', false],
    ['{"a":"}{\\"a\\":1,","b":1}', false],
    ['{"a":"\\\\","a":1}', true],
    ['{"x":[1,{"k":1,"k":2}]}', true],
    ['[{"a":1},{"a":1}]', false],
    ['{"":1,"":2}', true],
    ['"just a string with \\"a\\":1,\\"a\\":2"', false],
  ])('%s → %s', (text, duplicate) => {
    JSON.parse(text)
    expect(hasDuplicateMember(text)).toBe(duplicate)
  })
})
