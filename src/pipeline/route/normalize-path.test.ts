import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ambiguity, normalizePath, walkSegments } from './normalize-path.ts'

describe('normalizePath', () => {
  it.each([
    ['/packs/echo/hello', '/packs/echo/hello'],
    ['/packs/echo/../crm/x', '/packs/crm/x'],
    ['/packs/echo/%2e%2e/crm', '/packs/crm'],
    ['/packs/echo/%2E%2e/crm', '/packs/crm'],
    ['/packs/./echo', '/packs/echo'],
    ['//packs///echo', '/packs/echo'],
    ['/packs/echo/', '/packs/echo/'],
    ['/%70acks/echo', '/packs/echo'],
    ['/a/%7e%2d', '/a/~-'],
    ['/a/%c3%a9', '/a/%C3%A9'],
    ['/a/%ff', '/a/%FF'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/', '/'],
  ])('%s → %s', (raw, expected) => {
    expect(normalizePath(raw)).toEqual({ ok: true, path: expected })
  })

  it.each([
    ['/packs/echo%2F..%2Fcrm', 'encoded slash'],
    ['/packs/echo%2f..%2fcrm', 'encoded slash, lower case'],
    ['/packs/echo%5C..%5Ccrm', 'encoded backslash'],
    ['/packs/echo\\..\\crm', 'raw backslash'],
    ['/packs/echo/%00', 'NUL'],
    ['/packs/echo/%zz', 'malformed escape'],
    ['/packs/echo/%4', 'truncated escape'],
    ['/packs/echo/..;/crm', 'servlet dot-dot with parameters'],
    ['packs/echo', 'relative path'],
  ])('refuses %s (%s)', (raw) => {
    expect(normalizePath(raw).ok).toBe(false)
  })
})

describe('ambiguity (strict paths)', () => {
  const strict = (raw: string): string | null => {
    const normalized = normalizePath(raw)
    if (!normalized.ok) throw new Error(normalized.problem)
    return ambiguity(normalized.path)
  }

  it.each([
    ['/agents/%252e%252e/admin', 'double-encoded dot'],
    ['/agents/InternalCRMQuery%252Frun', 'double-encoded slash'],
    ['/agents/%255C', 'double-encoded backslash'],
    ['/agents/%25%32%65%25%32%65/x', 'double encoding spelled with encoded digits'],
    ['/agents/%2549nternalCRMQuery', 'any other double encoding'],
    ['/agents;x=1/InternalCRMQuery', 'matrix parameters'],
    ['/agents/InternalCRMQuery;jsessionid=1/run', 'a session id parameter'],
    ['/agents/InternalCRMQuery%3Bx/run', 'an encoded ;'],
    ['/agents/InternalCRMQuery./run', 'a trailing dot'],
    ['/agents/InternalCRMQuery.../run', 'trailing dots'],
    ['/agents/InternalCRMQuery%20/run', 'a trailing space'],
    ['/agents/InternalCRMQuery%09', 'a trailing tab'],
    ['/agents/InternalCRMQuery::$DATA', 'an NTFS stream'],
    ['/agents/InternalCRMQuery%3A%3A%24DATA/run', 'an encoded NTFS stream'],
    ['/agents/run:stream:$DATA', 'a named NTFS stream'],
    ['/agents/InternalCRMQuery%3F/run', 'an encoded ?'],
    ['/agents/InternalCRMQuery%23/run', 'an encoded #'],
    ['/agents/a%0Ab', 'a control character'],
    ['/agents/%C0%AE%C0%AE/x', 'an overlong dot'],
    ['/agents/%FF', 'an escape that is no UTF-8'],
    ['/agents/%C4%B1nternalCRMQuery', 'a dotless ı, which upper-cases to I'],
    ['/agents/Internal%C5%BFRMQuery', 'a long ſ, which upper-cases to S'],
    ['/agents/%E2%84%AAey', 'a Kelvin sign, which lower-cases to k'],
    ['/agents/%EF%BC%A9nternal', 'a fullwidth Ｉ, which NFKC makes I'],
    ['/agents/%EF%AC%81le', 'a ligature ﬁ, which upper-cases to FI'],
    ['/agents/v%C2%B2', 'a superscript ², which NFKC makes 2'],
    ['/agents/%EF%BC%8E%EF%BC%8E/admin', 'fullwidth dots, which NFKC makes ..'],
    ['/agents/a%EF%BC%8Fb', 'a fullwidth solidus, which NFKC makes /'],
    ['/agents/A%E1%BA%9Eist', 'a capital sharp s ẞ, which case-folds to ss (red team 4)'],
    ['/agents/As%C2%ADsist', 'a soft hyphen, which folding removes'],
    ['/agents/Assist%E2%80%8B', 'a zero-width space, which folding removes'],
    ['/agents/Ass%E2%81%A0ist', 'a word joiner, which folding removes'],
    ['/agents/Assist%EF%B8%8F', 'a variation selector, which folding removes'],
  ])('item 18: refuses %s (%s)', (raw) => {
    expect(strict(raw)).not.toBeNull()
  })

  it.each([
    ['/agents/InternalCRMQuery/run'],
    ['/agents/%7Euser/file.txt'],
    ['/agents/caf%C3%A9'],
    ['/agents/%E6%97%A5%E6%9C%AC'],
    ['/agents/%C3%85ngstr%C3%B6m'],
    ['/agents/%CF%82%CE%BF%CF%86%CE%AF%CE%B1'],
    ['/agents/%C3%87a'],
    ['/v1/models/gemini:generateContent'],
    ['/a/b-c_d~e/'],
    ['/'],
  ])('item 18: lets %s through', (raw) => {
    expect(strict(raw)).toBeNull()
  })
})

describe('normalizePath shortcut', () => {
  // Paths built from the pieces the walk treats specially, so both branches are reached often.
  const piece = fc.constantFrom(
    '/',
    '//',
    '.',
    '..',
    '.;x',
    '..;',
    '%2e',
    '%2E%2e',
    '%41',
    '%2f',
    '%zz',
    'a',
    'b.',
    ';',
    '~',
  )
  const path = fc.array(piece, { maxLength: 10 }).map((pieces) => '/' + pieces.join(''))

  it('answers every path as the full walk does', () => {
    fc.assert(
      fc.property(path, (raw) => {
        expect(normalizePath(raw)).toEqual(walkSegments(raw))
      }),
      { numRuns: 5000 },
    )
  })

  it('takes the shortcut only for paths that are their own normal form', () => {
    for (const raw of ['/a/b', '/a/b/', '/', '/a.b/c', '/a/.b', '/a/..b', '/a/b..']) {
      expect(normalizePath(raw)).toEqual({ ok: true, path: raw })
      expect(walkSegments(raw)).toEqual({ ok: true, path: raw })
    }
  })
})
