import { describe, expect, it } from 'vitest'
import { logText } from './log.ts'

describe('logText', () => {
  it('escapes what a log viewer or terminal acts on, and stays the same JSON value (red team 6)', () => {
    const tool = 'x\u2028{"request_id":"fake","decision":"allow"}\u202e\u009b\u2029'
    const text = logText({ mcp_tool: tool })
    expect(text).not.toMatch(/[\u2028\u2029\u202e\u009b]/)
    expect(text).toContain('\\u2028')
    expect(JSON.parse(text)).toEqual({ mcp_tool: tool })
    expect(logText({ path: '/caf\u00e9' })).toBe(JSON.stringify({ path: '/caf\u00e9' }))
  })
})
