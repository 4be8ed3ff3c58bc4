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
const IPV6_CHARS = /^[\dA-Fa-f:.]+$/
const HEXTET = /^[\dA-Fa-f]{1,4}$/
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

/** The eight 16-bit groups of an IPv6 address in any RFC 4291 §2.2 spelling, or `null`. */
function ipv6Groups(address: string): number[] | null {
  if (!address.includes(':') || !IPV6_CHARS.test(address)) return null
  const gap = address.indexOf('::')
  if (gap !== -1 && address.indexOf('::', gap + 1) !== -1) return null
  const head = gap === -1 ? address : address.slice(0, gap)
  const tail = gap === -1 ? '' : address.slice(gap + 2)
  const before = groupsOf(head, gap === -1)
  const after = gap === -1 ? [] : groupsOf(tail, true)
  if (before === null || after === null) return null
  const explicit = before.length + after.length
  // `::` stands for one or more zero groups (RFC 4291 §2.2 item 2); without it there are eight.
  if (gap === -1 ? explicit !== 8 : explicit > 7) return null
  return [...before, ...new Array<number>(8 - explicit).fill(0), ...after]
}

/**
 * The groups of one side of `::` (`''` has none). `last`: this side ends the address, so its
 * final part may be a dotted quad (RFC 4291 §2.2 item 3), which stands for two groups.
 */
function groupsOf(part: string, last: boolean): number[] | null {
  if (part === '') return []
  const parts = part.split(':')
  const groups: number[] = []
  for (const [i, p] of parts.entries()) {
    if (HEXTET.test(p)) groups.push(parseInt(p, 16))
    else if (last && i === parts.length - 1 && IPV4.test(p)) {
      const [a, b, c, d] = p.split('.').map(Number) as [number, number, number, number]
      groups.push((a << 8) | b, (c << 8) | d)
    } else return null
  }
  return groups
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
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':')
  if (bestStart === -1) return hex(0, 8)
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`
}
