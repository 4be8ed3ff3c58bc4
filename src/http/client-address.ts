/**
 * The client address in one canonical spelling, and the key a caller is counted under.
 *
 * Rate limits `by: ip`, concurrency rules `by: ip` and anonymous ids were keyed on the address
 * string as sent, so `2001:DB8::1`, `2001:db8:0:0:0:0:0:1`, `[2001:db8::1]` and `::ffff:1.2.3.4`
 * were each a fresh caller, and an IPv6 subscriber, who holds at least a /64, had 2^64 of them
 * (red team, h19). Here every spelling of one address gives one `text` (what X-Forwarded-For
 * carries), and every address of one /64 gives one `key` (what is counted and hashed):
 *
 * - IPv4: dotted quad, each part decimal without leading zeros; the key is the whole address.
 * - IPv6: RFC 5952 §4 (lower case, no leading zeros, the longest run of two or more zero groups,
 *   the first of equal runs, as `::`); brackets and a zone id (RFC 4007 §11) are dropped. The key
 *   is the /64 ({@link IPV6_SUBSCRIBER_PREFIX_BITS}) in the same form with its length,
 *   `2001:db8:1:2::/64`.
 * - IPv4-mapped IPv6 (`::ffff:1.2.3.4`, `::ffff:102:304`; RFC 4291 §2.5.5.2) is the IPv4 address
 *   it maps: the same caller, reached over a dual-stack socket. RFC 5952 §5's mixed notation is a
 *   SHOULD for such special addresses; naming the IPv4 address instead keeps one spelling per
 *   caller. Every other IPv6 address is written in §4 form, an embedded dotted tail included.
 *
 * Anything else (a port, a name, an IPv4 part with a leading zero, which some parsers read as
 * octal, RFC 6943 §3.1.1) is no address at all: the gateway treats it exactly as a request
 * without CF-Connecting-IP. So an unparsable value can never mint a fresh key (no anonymous id,
 * 401; no `by: ip` count, as for a missing address, which such a caller could send just as well),
 * never shares a fixed identity (SPEC §2), and never reaches the backend's X-Forwarded-For.
 *
 * Written by hand: Workers have no `node:net`, and the small address packages on npm either
 * accept ambiguous forms (octal, short IPv4) or bring subnet arithmetic the gateway has no use
 * for. IPv4 as Cloudflare sends it, the common case, costs one regular expression test.
 *
 * @module
 */
import { IPV6_SUBSCRIBER_PREFIX_BITS } from '../constants.ts'

export interface ClientAddress {
  /** The canonical spelling: what the backend receives in X-Forwarded-For. */
  readonly text: string
  /** What the caller is counted and named by: an IPv4 address whole, an IPv6 address's /64. */
  readonly key: string
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
/** A dotted quad in canonical form: four decimal octets, no leading zeros. */
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`)
const PREFIX_GROUPS = IPV6_SUBSCRIBER_PREFIX_BITS / 16

/**
 * The canonical address and key of a CF-Connecting-IP value, or `null` when it is not an address.
 *
 * @example
 * parseClientAddress('2001:DB8:1:2:0:0:0:1') // { text: '2001:db8:1:2::1', key: '2001:db8:1:2::/64' }
 * parseClientAddress('::ffff:102:304')       // { text: '1.2.3.4', key: '1.2.3.4' }
 */
export function parseClientAddress(value: string): ClientAddress | null {
  if (IPV4.test(value)) return { text: value, key: value }
  let address = value
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1)
  const zone = address.indexOf('%')
  if (zone !== -1) address = address.slice(0, zone)
  const groups = ipv6Groups(address)
  if (groups === null) return null
  if (isIpv4Mapped(groups)) {
    const [, , , , , , high = 0, low = 0] = groups
    const v4 = `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
    return { text: v4, key: v4 }
  }
  const text = rfc5952(groups)
  groups.fill(0, PREFIX_GROUPS)
  return { text, key: `${rfc5952(groups)}/${IPV6_SUBSCRIBER_PREFIX_BITS}` }
}

const COLON = 0x3a
const DOT = 0x2e

/**
 * The eight 16-bit groups of an IPv6 address in any RFC 4291 §2.2 spelling, or `null`: one pass
 * over the characters (a split and a regular expression per group cost several times as much).
 */
function ipv6Groups(address: string): number[] | null {
  const length = address.length
  const groups: number[] = []
  /** Where `::` stands (an index into `groups`), or -1. */
  let gap = -1
  let value = 0
  let digits = 0
  let i = 0
  if (address.charCodeAt(0) === COLON) {
    if (address.charCodeAt(1) !== COLON) return null
    gap = 0
    i = 2
  }
  let groupStart = i
  for (; i < length; i++) {
    const c = address.charCodeAt(i)
    const hex = hexValue(c)
    if (hex !== -1) {
      if (++digits > 4) return null
      value = (value << 4) | hex
    } else if (c === COLON) {
      if (digits === 0) {
        // A second colon in a row: `::` (RFC 4291 §2.2 item 2), at most once.
        if (gap !== -1) return null
        gap = groups.length
      } else {
        if (groups.length === 8) return null
        groups.push(value)
        value = 0
        digits = 0
      }
      groupStart = i + 1
    } else if (c === DOT) {
      // The last 32 bits as a dotted quad (RFC 4291 §2.2 item 3): the rest of the address.
      const quad = address.slice(groupStart)
      if (!IPV4.test(quad) || groups.length > 6) return null
      const [a = 0, b = 0, cc = 0, d = 0] = quad.split('.').map(Number)
      groups.push((a << 8) | b, (cc << 8) | d)
      digits = -1
      break
    } else return null
  }
  if (digits > 0) {
    if (groups.length === 8) return null
    groups.push(value)
  } else if (digits === 0 && !(gap === groups.length && address.endsWith('::'))) return null
  if (gap === -1) return groups.length === 8 ? groups : null
  // `::` stands for one or more zero groups.
  if (groups.length > 7) return null
  const out = groups.slice(0, gap)
  for (let k = groups.length; k < 8; k++) out.push(0)
  for (let k = gap; k < groups.length; k++) out.push(groups[k] ?? 0)
  return out
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  return -1
}

/** `::ffff:0:0/96` (RFC 4291 §2.5.5.2). */
function isIpv4Mapped(groups: readonly number[]): boolean {
  return (
    groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff
  )
}

/** RFC 5952 §4: lower-case hex without leading zeros; the longest run (≥ 2, first on ties) of zero groups as `::`. */
function rfc5952(groups: readonly number[]): string {
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  let out = ''
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::'
      i += bestLength - 1
      continue
    }
    if (i > 0 && i !== bestStart + bestLength) out += ':'
    out += (groups[i] ?? 0).toString(16)
  }
  return out
}
