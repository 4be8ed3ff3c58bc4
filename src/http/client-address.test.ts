import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IPV6_SUBSCRIBER_PREFIX_BITS } from '../constants.ts'
import { parseClientAddress } from './client-address.ts'

const text = (value: string): string | null => parseClientAddress(value)?.text ?? null
const key = (value: string): string | null => parseClientAddress(value)?.key ?? null

describe('parseClientAddress', () => {
  it.each([
    // IPv4 as Cloudflare sends it, and its edges.
    ['1.2.3.4', '1.2.3.4', '1.2.3.4'],
    ['0.0.0.0', '0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255', '255.255.255.255'],
    ['203.0.113.7', '203.0.113.7', '203.0.113.7'],
    // IPv4-mapped IPv6, dotted and hex, any case and length: the IPv4 address.
    ['::ffff:1.2.3.4', '1.2.3.4', '1.2.3.4'],
    ['::FFFF:1.2.3.4', '1.2.3.4', '1.2.3.4'],
    ['::ffff:102:304', '1.2.3.4', '1.2.3.4'],
    ['0:0:0:0:0:ffff:0102:0304', '1.2.3.4', '1.2.3.4'],
    ['[::ffff:1.2.3.4]', '1.2.3.4', '1.2.3.4'],
    ['::ffff:ffff:ffff', '255.255.255.255', '255.255.255.255'],
    // The red team's spellings of one address: one text, one /64.
    ['2001:db8:1:2::1', '2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::1', '2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:0:0:0:1', '2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:0000:0000:0000:0001', '2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['[2001:db8:1:2::1]', '2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1%eth0', '2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['[2001:db8:1:2::1%25en0]', '2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::0.0.0.1', '2001:db8:1:2::1', '2001:db8:1:2::/64'],
    // Other members of the /64: other texts, the same key.
    ['2001:db8:1:2::2', '2001:db8:1:2::2', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    // Another /64.
    ['2001:db8:1:3::1', '2001:db8:1:3::1', '2001:db8:1:3::/64'],
    // RFC 5952 §4.2: the longest run is compressed, the first of equal ones, never a single group.
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', '2001:db8::/64'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1', '2001:0:0:1::/64'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', '2001:db8:0:1::/64'],
    ['2001:db8::1:1:1:1:1', '2001:db8:0:1:1:1:1:1', '2001:db8:0:1::/64'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8', '1:2:3:4::/64'],
    ['::', '::', '::/64'],
    ['::1', '::1', '::/64'],
    ['1::', '1::', '1::/64'],
    ['fe80::1%eth0', 'fe80::1', 'fe80::/64'],
    // Embedded IPv4 that is not mapped stays IPv6 (§4 form).
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304', '64:ff9b::/64'],
    ['::1.2.3.4', '::102:304', '::/64'],
  ])('%s → %s, counted as %s', (input, canonical, counted) => {
    expect(parseClientAddress(input)).toEqual({ text: canonical, key: counted })
  })

  it.each([
    '',
    'unknown',
    'localhost',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4', // a leading zero: octal to some parsers (RFC 6943 §3.1.1)
    '1.2.3.04',
    '0x1.2.3.4',
    '1.2.3.4:80',
    '[1.2.3.4]',
    '1.2.3.4%eth0',
    ' 1.2.3.4',
    '1.2.3.4, 5.6.7.8',
    '[2001:db8::1]:443',
    '2001:db8::1]',
    '[2001:db8::1',
    '2001:db8:::1',
    '2001::db8::1',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '12345::1',
    'g::1',
    ':1::2',
    '1::2:',
    '1.2.3.4::',
    '::1.2.3.4:1',
    '::ffff:01.2.3.4',
    '::ffff:1.2.3',
    '%eth0',
    ':',
    ':::',
  ])('%j is no address', (input) => {
    expect(parseClientAddress(input)).toBeNull()
  })

  it('counts an IPv6 address by its /64 (the constant), an IPv4 address whole', () => {
    expect(IPV6_SUBSCRIBER_PREFIX_BITS).toBe(64)
    expect(key('2001:db8:aaaa:bbbb:1:2:3:4')).toBe(key('2001:db8:aaaa:bbbb:ffff::'))
    expect(key('2001:db8:aaaa:bbbb::')).not.toBe(key('2001:db8:aaaa:bbbc::'))
    expect(key('192.0.2.1')).not.toBe(key('192.0.2.2'))
    expect(key('1.2.3.4')).toBe(key('::ffff:1.2.3.4'))
  })
})

// ---- Property: every spelling of a random address canonicalizes to one text and one key. ----

const group = fc.integer({ min: 0, max: 0xffff })
/** Eight groups, biased to zero runs (where `::` and RFC 5952's choices happen) and to mapped IPv4. */
const groups: fc.Arbitrary<number[]> = fc.oneof(
  fc.array(group, { minLength: 8, maxLength: 8 }),
  fc.array(fc.oneof(fc.constant(0), fc.constant(0), group), { minLength: 8, maxLength: 8 }),
  fc.tuple(group, group).map(([a, b]) => [0, 0, 0, 0, 0, 0xffff, a, b]),
)

interface Style {
  /** Per group: extra leading zeros (capped at four digits) and a case. */
  pads: number[]
  cases: ('lower' | 'upper' | 'mixed')[]
  /** Which zero run becomes `::` (an index into the runs, or none). */
  gap: number | null
  dottedTail: boolean
  brackets: boolean
  zone: boolean
}

const style: fc.Arbitrary<Style> = fc.record({
  pads: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
  cases: fc.array(fc.constantFrom('lower' as const, 'upper' as const, 'mixed' as const), {
    minLength: 8,
    maxLength: 8,
  }),
  gap: fc.option(fc.nat({ max: 7 })),
  dottedTail: fc.boolean(),
  brackets: fc.boolean(),
  zone: fc.boolean(),
})

/** One RFC 4291 §2.2 spelling of `g`: any zero run (one group or more) may be `::`. */
function spell(g: readonly number[], s: Style): string {
  const runs: [number, number][] = []
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && g[j] === 0) j++
    runs.push([i, j])
    i = j
  }
  const run = s.gap === null || runs.length === 0 ? null : runs[s.gap % runs.length]!
  const dotted = s.dottedTail && (run === null || run[1] <= 6)
  const hex = (i: number): string => {
    let h = g[i]!.toString(16)
    h = '0'.repeat(Math.min(s.pads[i]!, 4 - h.length)) + h
    const c = s.cases[i]
    return c === 'upper'
      ? h.toUpperCase()
      : c === 'mixed'
        ? [...h].map((ch, k) => (k % 2 ? ch.toUpperCase() : ch)).join('')
        : h
  }
  const part = (from: number, to: number): string[] => {
    const out: string[] = []
    for (let i = from; i < to; i++) {
      if (dotted && i === 6) {
        out.push(`${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`)
        break
      }
      out.push(hex(i))
    }
    return out
  }
  let address = run === null ? part(0, 8).join(':') : `${part(0, run[0]).join(':')}::${part(run[1], 8).join(':')}`
  if (s.zone) address += '%eth0'
  return s.brackets ? `[${address}]` : address
}

const isMapped = (g: readonly number[]): boolean => g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff

describe('parseClientAddress, every spelling', () => {
  it('gives one text and one key per address, the text is stable, and (not mapped) it is what WHATWG URL writes', () => {
    fc.assert(
      fc.property(groups, style, style, (g, a, b) => {
        const first = parseClientAddress(spell(g, a))
        const second = parseClientAddress(spell(g, b))
        expect(first).not.toBeNull()
        expect(second).toEqual(first)
        // Canonical is a fixed point: parsing the text again gives itself.
        expect(parseClientAddress(first!.text)).toEqual(first)
        if (isMapped(g)) {
          expect(first!.text).toBe(`${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`)
        } else {
          // An independent RFC 5952 serializer: the URL standard's IPv6 host (workerd's, not ours).
          const serialized = new URL(`http://[${g.map((x) => x.toString(16)).join(':')}]/`).hostname
          expect(`[${first!.text}]`).toBe(serialized)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('keys two IPv6 addresses alike exactly when their first 64 bits are', () => {
    fc.assert(
      fc.property(groups, groups, style, (g, h, s) => {
        const inNetwork = [...g.slice(0, 4), ...h.slice(4)]
        fc.pre(!isMapped(g) && !isMapped(h) && !isMapped(inNetwork))
        const sameNetwork = g.slice(0, 4).every((x, i) => x === h[i])
        expect(key(spell(g, s))).toBe(key(inNetwork.map((x) => x.toString(16)).join(':')))
        expect(key(spell(g, s)) === key(h.map((x) => x.toString(16)).join(':'))).toBe(sameNetwork)
        expect(text(spell(g, s))).not.toBeNull()
      }),
      { numRuns: 1000 },
    )
  })
})
