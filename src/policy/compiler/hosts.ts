/**
 * Pack hosts as the run-time matcher sees them (`pipeline/route/match.ts` compares them with the
 * request URL's host), checked at build time (issue 12, item 15).
 *
 * @module
 */

/**
 * The host as a request URL spells it (`0x7f.1` is `127.0.0.1`, `:08787` is `:8787`, and a
 * default port is dropped: `example.com:443` is `example.com` for https), or '' when it is none.
 * A pack host spelled otherwise would never equal a request's host.
 */
export function canonicalHost(host: string): string {
  try {
    for (const scheme of ['http', 'https']) {
      const canonical = new URL(`${scheme}://${host}`).host
      if (canonical !== host) return canonical
    }
    return host
  } catch {
    return ''
  }
}
