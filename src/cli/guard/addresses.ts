/**
 * Which hosts a deployed gateway must not name: loopback, private, link-local, unique-local and
 * other special-purpose addresses (RFC 6890 and its IPv6 registry), and names that only resolve
 * inside a network or are reserved placeholders (RFC 6761, RFC 6762, RFC 8375, RFC 2606, and the
 * `.internal` TLD ICANN reserved for private use in 2024).
 *
 * Hosts come from the WHATWG URL parser, which has already turned `127.1`, `2130706433` and
 * `0x7f.0.0.1` into `127.0.0.1` and IPv6 into its short form; the checks below see one spelling.
 * Names are not resolved: the deploy machine's resolver is not Cloudflare's, and a guard that
 * passes or fails with the network it runs on would be no guard.
 *
 * @module
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net'

interface Range {
  address: string
  prefix: number
  what: string
}

// RFC 6890 §2.2.2 and the IANA IPv4 Special-Purpose Address Registry.
const IPV4: Range[] = [
  { address: '0.0.0.0', prefix: 8, what: 'the unspecified "this network" range (0.0.0.0/8)' },
  { address: '10.0.0.0', prefix: 8, what: 'a private address (RFC 1918)' },
  { address: '100.64.0.0', prefix: 10, what: 'a carrier-grade NAT address (RFC 6598)' },
  { address: '127.0.0.0', prefix: 8, what: 'a loopback address' },
  { address: '169.254.0.0', prefix: 16, what: 'a link-local address' },
  { address: '172.16.0.0', prefix: 12, what: 'a private address (RFC 1918)' },
  { address: '192.0.0.0', prefix: 24, what: 'an IETF protocol address (192.0.0.0/24)' },
  { address: '192.0.2.0', prefix: 24, what: 'a documentation address (RFC 5737)' },
  { address: '192.168.0.0', prefix: 16, what: 'a private address (RFC 1918)' },
  { address: '198.18.0.0', prefix: 15, what: 'a benchmarking address (RFC 2544)' },
  { address: '198.51.100.0', prefix: 24, what: 'a documentation address (RFC 5737)' },
  { address: '203.0.113.0', prefix: 24, what: 'a documentation address (RFC 5737)' },
  { address: '224.0.0.0', prefix: 4, what: 'a multicast address' },
  { address: '240.0.0.0', prefix: 4, what: 'a reserved address (240.0.0.0/4)' },
]

// The IANA IPv6 Special-Purpose Address Registry (RFC 6890 §2.2.3).
const IPV6: Range[] = [
  { address: '::', prefix: 128, what: 'the unspecified address (::)' },
  { address: '::1', prefix: 128, what: 'a loopback address' },
  { address: '100::', prefix: 64, what: 'a discard-only address (RFC 6666)' },
  { address: '2001:db8::', prefix: 32, what: 'a documentation address (RFC 3849)' },
  { address: 'fc00::', prefix: 7, what: 'a unique-local (private) address (RFC 4193)' },
  { address: 'fe80::', prefix: 10, what: 'a link-local address' },
  { address: 'fec0::', prefix: 10, what: 'a site-local (private) address' },
  { address: 'ff00::', prefix: 8, what: 'a multicast address' },
]

/** One BlockList per range, so the answer can say which range matched. */
const CHECKS = [
  ...IPV4.map((range) => ({ range, list: listOf(range, 'ipv4') })),
  ...IPV6.map((range) => ({ range, list: listOf(range, 'ipv6') })),
]

function listOf(range: Range, family: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList()
  list.addSubnet(range.address, range.prefix, family)
  return list
}

// Names that never resolve on the public internet, or are placeholders.
const NAME_SUFFIXES: Array<[string, string]> = [
  ['localhost', 'a loopback name (RFC 6761)'],
  ['local', 'a multicast-DNS name, resolvable only on the local link (RFC 6762)'],
  ['internal', 'a private-use name (.internal, reserved by ICANN for private networks)'],
  ['home.arpa', 'a home-network name (RFC 8375)'],
  ['lan', 'a private-network name (not resolvable on the public internet)'],
  ['home', 'a private-network name (not resolvable on the public internet)'],
  ['corp', 'a private-network name (not resolvable on the public internet)'],
  ['intranet', 'a private-network name (not resolvable on the public internet)'],
  ['private', 'a private-network name (not resolvable on the public internet)'],
  ['test', 'a name reserved for testing (RFC 6761)'],
  ['invalid', 'a name reserved as invalid (RFC 6761)'],
  ['example', 'a documentation placeholder (RFC 2606)'],
  ['example.com', 'a documentation placeholder (RFC 2606)'],
  ['example.net', 'a documentation placeholder (RFC 2606)'],
  ['example.org', 'a documentation placeholder (RFC 2606)'],
]

export type HostVerdict = { kind: 'public-name' } | { kind: 'public-ip' } | { kind: 'refused'; what: string }

/** `hostname` as `URL.hostname` gives it (IPv6 in brackets). */
export function classifyHost(hostname: string): HostVerdict {
  const host = hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
  if (isIPv4(host)) return ipVerdict(host, 'ipv4')
  if (isIPv6(host)) {
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address inside: judge that one.
    const embedded = embeddedIPv4(host)
    if (embedded) {
      const inner = ipVerdict(embedded, 'ipv4')
      if (inner.kind === 'refused') return { kind: 'refused', what: `${inner.what}, inside the IPv6 address` }
    }
    return ipVerdict(host, 'ipv6')
  }
  for (const [suffix, what] of NAME_SUFFIXES) {
    if (host === suffix || host.endsWith(`.${suffix}`)) return { kind: 'refused', what }
  }
  if (!host.includes('.'))
    return { kind: 'refused', what: 'a single-label name, resolvable only inside a private network' }
  return { kind: 'public-name' }
}

function ipVerdict(address: string, family: 'ipv4' | 'ipv6'): HostVerdict {
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is checked against the IPv4 ranges by BlockList.
  for (const { range, list } of CHECKS) if (list.check(address, family)) return { kind: 'refused', what: range.what }
  return { kind: 'public-ip' }
}

function embeddedIPv4(address: string): string | null {
  const groups = expandIPv6(address)
  if (!groups) return null
  let high: number
  let low: number
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0)) {
    high = groups[6] as number
    low = groups[7] as number
  } else if (groups[0] === 0x2002) {
    high = groups[1] as number
    low = groups[2] as number
  } else return null
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.')
}

/** Eight 16-bit groups; the URL parser never leaves a dotted quad in an IPv6 host. */
function expandIPv6(address: string): number[] | null {
  const [head = '', tail] = address.split('::')
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)))
  const left = parse(head)
  const right = tail === undefined ? [] : parse(tail)
  const missing = 8 - left.length - right.length
  if (missing < 0 || (tail === undefined && missing !== 0)) return null
  return [...left, ...new Array<number>(missing).fill(0), ...right]
}
