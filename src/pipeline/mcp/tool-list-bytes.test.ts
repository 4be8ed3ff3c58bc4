import { describe, expect, it } from 'vitest'
import { filterToolListBytes } from './tool-list-bytes.ts'
import { filterToolList } from './tool-list.ts'

const encoder = new TextEncoder()
const allowed = (name: string): boolean => !name.startsWith('secret')

/** What the byte filter answers, checked against parsing the message and filtering the objects. */
function agrees(text: string): 'unchanged' | 'changed' | 'unsure' {
  const bytes = encoder.encode(`xx${text}yy`)
  const outcome = filterToolListBytes(bytes, 2, bytes.length - 2, allowed)
  if (outcome === null) return 'unsure'
  const expected = filterToolList(JSON.parse(text), allowed)
  if (!outcome.changed) {
    expect(expected, text).toBeNull()
    return 'unchanged'
  }
  const out = new TextDecoder().decode(outcome.bytes)
  expect(JSON.parse(out), text).toEqual(expected)
  return 'changed'
}

const tool = (name: unknown, extra: Record<string, unknown> = {}) => ({
  name,
  inputSchema: {
    type: 'object',
    properties: { q: { type: 'string', description: 'a "quoted" [bracket] {brace} \\ back\\slash é 💡' } },
  },
  ...extra,
})

describe('filterToolListBytes', () => {
  it('reads lists as JSON.parse does, whatever the spacing and the strings hold', () => {
    const message = {
      jsonrpc: '2.0',
      id: 3,
      result: {
        tools: [
          tool('a'),
          tool('secret_b'),
          tool('c', { annotations: { readOnlyHint: true, n: -1.5e3, x: null } }),
          tool('secret_d'),
        ],
        nextCursor: 'n',
      },
    }
    expect(agrees(JSON.stringify(message))).toBe('changed')
    expect(agrees(JSON.stringify(message, null, 2))).toBe('changed')
    expect(agrees(JSON.stringify(message, null, '\t').replaceAll('\n', '\r\n'))).toBe('changed')
    expect(agrees(JSON.stringify({ result: { tools: [tool('secret')] } }))).toBe('changed')
    expect(agrees(JSON.stringify({ result: { tools: [tool('secret'), tool('secret2')] } }))).toBe('changed')
  })

  it('decodes escaped names before it judges them', () => {
    expect(agrees('{"result":{"tools":[{"name":"\\u0073ecret_x"},{"name":"ok\\"q"}]}}')).toBe('changed')
    expect(agrees('{"result":{"tools":[{"name":"caf\\u00e9"},{"n\\u0061me":"secret_y"}]}}')).toBe('changed')
  })

  it('drops elements that name nothing, as the object filter does', () => {
    expect(agrees('{"result":{"tools":[{"name":"a"},{"title":"x"},"t",7,null,{"name":1},[{"name":"a"}]]}}')).toBe(
      'changed',
    )
  })

  it('says when nothing changes', () => {
    expect(agrees('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}')).toBe('unchanged')
    expect(agrees('{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}')).toBe('unchanged')
    expect(agrees('{"jsonrpc":"2.0","id":1,"result":{"content":[{"name":"secret"}]}}')).toBe('unchanged')
    expect(agrees('{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"secret"}}}')).toBe('unchanged')
    expect(agrees('{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}')).toBe('unchanged')
    expect(agrees('{"jsonrpc":"2.0","id":1,"result":"tools"}')).toBe('unchanged')
  })

  it('gives up on what it cannot be sure to read as JSON.parse does', () => {
    for (const text of [
      '{"result":{"tools":[{"name":"a"}]},"result":{"tools":[{"name":"secret"}]}}',
      '{"result":{"tools":[{"name":"a"}],"tools":[{"name":"secret"}]}}',
      '{"result":{"tools":[{"name":"a","name":"secret"}]}}',
      '{"result":{"tools":[{"name":"a"},]}}',
      '{"result":{"tools":[{"name":"a"}]}} trailing',
      '[{"result":{"tools":[{"name":"secret"}]}}]',
      '{"result":{"tools":[{"name":"a"}',
      '{"result":{"tools":[{"name" "a"}]}}',
    ]) {
      const bytes = encoder.encode(text)
      expect(filterToolListBytes(bytes, 0, bytes.length, allowed), text).toBeNull()
    }
  })

  it('keeps what it keeps byte for byte', () => {
    const text =
      '{ "result" : { "tools" : [ {"name":"a" , "x":[1, 2]} , {"name":"secret"} , {"name":"b"} ] } , "id":1 }'
    const bytes = encoder.encode(text)
    const outcome = filterToolListBytes(bytes, 0, bytes.length, allowed)
    expect(outcome?.changed && new TextDecoder().decode(outcome.bytes)).toBe(
      '{ "result" : { "tools" : [ {"name":"a" , "x":[1, 2]},{"name":"b"} ] } , "id":1 }',
    )
  })
})
