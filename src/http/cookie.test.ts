import { describe, expect, it } from 'vitest'
import { dropSetCookies, findSessionCookie, withoutCookie } from './cookie.ts'

const NAMES = ['session', '__Secure-session']

describe('findSessionCookie', () => {
  it('finds the one session cookie among others', () => {
    expect(findSessionCookie('theme=dark; session=abc.def', NAMES)).toEqual({
      kind: 'one',
      name: 'session',
      value: 'abc.def',
    })
    expect(findSessionCookie('theme=dark', NAMES)).toEqual({ kind: 'none' })
    expect(findSessionCookie(null, NAMES)).toEqual({ kind: 'none' })
  })

  it('calls two session cookies ambiguous, in one line or in two lines the runtime joined with ", "', () => {
    expect(findSessionCookie('session=a; session=b', NAMES)).toEqual({ kind: 'ambiguous' })
    expect(findSessionCookie('session=a; __Secure-session=b', NAMES)).toEqual({ kind: 'ambiguous' })
    // Two Cookie lines (red team 2, F5): the value is not "a, session=b".
    expect(findSessionCookie('session=a, session=b', NAMES)).toEqual({ kind: 'ambiguous' })
    expect(findSessionCookie('theme=dark; session=a, x=1; session=b', NAMES)).toEqual({ kind: 'ambiguous' })
  })

  it('finds a session cookie on the second of two joined lines', () => {
    expect(findSessionCookie('theme=dark, session=abc', NAMES)).toEqual({ kind: 'one', name: 'session', value: 'abc' })
  })
})

describe('withoutCookie', () => {
  it('removes the session cookie and keeps the rest as sent', () => {
    expect(withoutCookie('theme=dark; session=abc; lang=en', ['session'])).toBe('theme=dark; lang=en')
    expect(withoutCookie('session=abc', ['session'])).toBeNull()
    expect(withoutCookie('prefs=a,b; session=abc', ['session'])).toBe('prefs=a,b')
  })

  it('removes it from the second of two joined lines too, so it never reaches the backend', () => {
    expect(withoutCookie('theme=dark, session=abc', ['session'])).toBe('theme=dark')
    expect(withoutCookie('session=abc, theme=dark; lang=en', ['session'])).toBe('theme=dark; lang=en')
  })
})

describe('dropSetCookies', () => {
  it("drops a backend's Set-Cookie for a session cookie name and keeps the others (red team 6)", () => {
    const headers = new Headers()
    headers.append('set-cookie', 'sid=user-mallory; Path=/; HttpOnly')
    headers.append('set-cookie', 'theme=dark; Path=/')
    headers.append('set-cookie', '__Secure-sid=x; Path=/packs; Secure')
    dropSetCookies(headers, ['sid', '__Secure-sid'])
    expect(headers.getSetCookie()).toEqual(['theme=dark; Path=/'])
    const untouched = new Headers({ 'set-cookie': 'theme=dark' })
    dropSetCookies(untouched, ['sid'])
    expect(untouched.getSetCookie()).toEqual(['theme=dark'])
  })
})
