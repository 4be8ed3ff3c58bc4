import { describe, expect, it } from 'vitest'
import { foldId, foldsIntoAscii, foldText } from './fold.ts'

describe('foldText: what a folding backend compares', () => {
  it.each([
    ['APIKEY:demo-alice', 'apikey:demo-alice'],
    ['apikey\uFF1Ademo-alice', 'apikey:demo-alice'],
    ['A\u1E9Eist', 'assist'],
    ['\u0131nternal', 'internal'],
    ['\u212Aey', 'key'],
    ['\u017Fecret', 'secret'],
    ['Assist\u200B', 'assist'],
    ['As\u00ADsist', 'assist'],
    ['\uFB01le', 'file'],
    ['caf\u00E9', 'caf\u00E9'],
  ])('%s folds to %s', (text, folded) => {
    expect(foldText(text)).toBe(folded)
  })

  it('trims an id, and leaves look-alikes of other scripts apart', () => {
    expect(foldId(' apikey:demo-alice\t')).toBe('apikey:demo-alice')
    // What Python's strip() and Go's TrimSpace take and trim() leaves (red team 5).
    expect(foldId('\u0085apikey:demo-alice')).toBe('apikey:demo-alice')
    expect(foldId('\u001Capikey:demo-alice\u001F')).toBe('apikey:demo-alice')
    expect(foldId('\u0430pikey:x')).not.toBe('apikey:x')
  })
})

describe('foldsIntoAscii', () => {
  it('finds the characters folding turns into ASCII or removes, and only those', () => {
    for (const text of ['\u0131', '\u1E9E', '\u212A', '\uFF0F', '\u200B', '\uFE0F', '\u00B2', 'x\u00DFy'])
      expect(foldsIntoAscii(text), JSON.stringify(text)).toBe(true)
    for (const text of ['plain', 'caf\u00E9', '\u65E5\u672C', '\u03C2', '\u00C7a', '\u13A0'])
      expect(foldsIntoAscii(text), JSON.stringify(text)).toBe(false)
  })
})
