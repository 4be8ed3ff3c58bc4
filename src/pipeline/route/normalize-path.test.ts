import { describe, expect, it } from 'vitest'
import { normalizePath } from './normalize-path.ts'

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
