/**
 * The ISO 8601 instants a policy and the CLI take (`api_keys.*.expires`,
 * `previous_signing_keys.*.until`, `keys create --expires`): a date (`2027-06-30`, midnight UTC) or
 * a date-time with its offset (`2027-06-30T10:00:00Z`, `…+02:00`). Hand-written because
 * `Date.parse` is lenient where an expiry must not be: it rolls `2026-02-30` over to March 2,
 * reads `"12"` as December 2001, and a date-time without an offset in the build machine's time
 * zone. Build time only.
 *
 * @module
 */

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/

/** Unix milliseconds, or `null` when the text is not such an instant or names no real date. */
export function parseInstant(text: string): number | null {
  const m = INSTANT.exec(text)
  if (m === null) return null
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', offset = 'Z'] = m
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  const hour = Number(h)
  const minute = Number(mi)
  const second = Number(s)
  if (hour > 23 || minute > 59 || second > 59) return null
  const utc = Date.UTC(year, month - 1, day, hour, minute, second)
  // A day the month does not have rolls over in Date.UTC: read it back to see.
  const back = new Date(utc)
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) return null
  let offsetMs = 0
  if (offset !== 'Z') {
    const offsetHours = Number(offset.slice(1, 3))
    const offsetMinutes = Number(offset.slice(4, 6))
    if (offsetHours > 23 || offsetMinutes > 59) return null
    offsetMs = (offset[0] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000
  }
  const millis = fraction === '' ? 0 : Math.floor(Number(`0${fraction}`) * 1000)
  return utc + millis - offsetMs
}
