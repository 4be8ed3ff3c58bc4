/**
 * Filtering a tool list without parsing it into objects. A list of 1,000 tools is ~250 KB of
 * JSON; `JSON.parse` and `JSON.stringify` of it cost ~3 ms of CPU in workerd, over half the
 * budget of 5 ms, mostly to build objects for the schemas the gateway never reads. This reads the
 * bytes once instead: it finds `result.tools`, each element's extent and its `name`, and cuts the
 * refused elements out of the original bytes; everything it keeps stays byte for byte as the
 * server wrote it. Structural characters are ASCII, and UTF-8 never uses ASCII bytes inside a
 * multi-byte character, so no decoding is needed except for the names.
 *
 * It gives up (`null`) on anything it is not sure to read as `JSON.parse` would: a member name
 * used twice where it looks (`result`, `tools`, `name`), bytes that are not JSON, or a shape other
 * than one message object; the caller then parses the message the slow way.
 *
 * @module
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const LBRACE = 0x7b
const RBRACE = 0x7d
const LBRACKET = 0x5b
const RBRACKET = 0x5d
const COMMA = 0x2c
const COLON = 0x3a

export type ByteFilterOutcome = { changed: false } | { changed: true; bytes: Uint8Array } | null

const utf8 = new TextDecoder()

/** Gives up on the bytes: the caller reads them with `JSON.parse`. */
class Unsure extends Error {}
const UNSURE = new Unsure()

interface Span {
  start: number
  end: number
}

/**
 * The index after the quote that closes a string whose content starts at `from`. A backslash
 * escapes the byte after it (`\"`, `\\`; the hex digits of `\uXXXX` are no quotes), so skipping
 * that byte is all an escape needs. A JS loop: strings here are short, and a native `indexOf`
 * per string costs more in calls than it saves.
 */
function stringEnd(bytes: Uint8Array, from: number, end: number): number {
  let i = from
  while (i < end) {
    const c = bytes[i]
    if (c === QUOTE) return i + 1
    i += c === BACKSLASH ? 2 : 1
  }
  throw UNSURE
}

interface Item {
  start: number
  end: number
  name: string | null
}

class Reader {
  i: number
  readonly bytes: Uint8Array
  readonly end: number

  constructor(bytes: Uint8Array, start: number, end: number) {
    this.bytes = bytes
    this.i = start
    this.end = end
  }

  space(): void {
    const { bytes, end } = this
    while (this.i < end) {
      const c = bytes[this.i]
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return
      this.i++
    }
  }

  expect(byte: number): void {
    this.space()
    if (this.bytes[this.i] !== byte || this.i >= this.end) throw UNSURE
    this.i++
  }

  /** At a quote: skips the string; answers where its content starts and ends. */
  string(): Span {
    if (this.bytes[this.i] !== QUOTE) throw UNSURE
    const start = this.i + 1
    this.i = stringEnd(this.bytes, start, this.end)
    return { start, end: this.i - 1 }
  }

  /** Whether a string's content is `ascii` (compared as bytes: names are short and mostly plain). */
  is(span: Span, ascii: string): boolean {
    const { bytes } = this
    const length = span.end - span.start
    for (let k = 0; k < length; k++) {
      const c = bytes[span.start + k]
      if (c === BACKSLASH) return this.text(span) === ascii
      if (c !== ascii.charCodeAt(k)) return false
    }
    return length === ascii.length
  }

  /** The text of a string's content (a tool name). */
  text(span: Span): string {
    const { bytes } = this
    let plain = true
    for (let k = span.start; k < span.end; k++) {
      const c = bytes[k] as number
      if (c >= 0x80 || c === BACKSLASH) {
        plain = false
        break
      }
    }
    if (plain) return String.fromCharCode(...bytes.subarray(span.start, span.end))
    const raw = utf8.decode(bytes.subarray(span.start, span.end))
    try {
      return JSON.parse(`"${raw}"`) as string
    } catch {
      throw UNSURE
    }
  }

  /** Skips one value of any kind. */
  value(): void {
    this.space()
    const c = this.bytes[this.i]
    if (c === QUOTE) this.string()
    else if (c === LBRACE || c === LBRACKET) this.container()
    else this.scalar()
  }

  private container(): void {
    const { bytes, end } = this
    let i = this.i
    let depth = 0
    while (i < end) {
      const c = bytes[i] as number
      if (c === QUOTE) {
        i = stringEnd(bytes, i + 1, end)
        continue
      }
      if (c === LBRACE || c === LBRACKET) depth++
      else if (c === RBRACE || c === RBRACKET) {
        depth--
        if (depth === 0) {
          this.i = i + 1
          return
        }
      }
      i++
    }
    throw UNSURE
  }

  private scalar(): void {
    const start = this.i
    const { bytes, end } = this
    while (this.i < end) {
      const c = bytes[this.i]
      if (c === COMMA || c === RBRACE || c === RBRACKET || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) break
      this.i++
    }
    if (this.i === start) throw UNSURE
  }

  /** Walks an object's members, handing each name to `member`, which must read its value. */
  members(member: (name: Span) => void): void {
    this.expect(LBRACE)
    this.space()
    if (this.bytes[this.i] === RBRACE) {
      this.i++
      return
    }
    for (;;) {
      this.space()
      const name = this.string()
      this.expect(COLON)
      this.space()
      member(name)
      this.space()
      const c = this.bytes[this.i]
      this.i++
      if (c === RBRACE) return
      if (c !== COMMA) throw UNSURE
    }
  }
}

/** Reads `result.tools` of the one message in `bytes[start, end)`: each element's extent and name. */
function toolItems(reader: Reader): Item[] | undefined {
  let items: Item[] | undefined
  let sawResult = false
  reader.members((name) => {
    if (!reader.is(name, 'result')) return reader.value()
    if (sawResult) throw UNSURE
    sawResult = true
    if (reader.bytes[reader.i] !== LBRACE) return reader.value()
    let sawTools = false
    reader.members((field) => {
      if (!reader.is(field, 'tools')) return reader.value()
      if (sawTools) throw UNSURE
      sawTools = true
      if (reader.bytes[reader.i] !== LBRACKET) return reader.value()
      items = toolArray(reader)
    })
  })
  reader.space()
  if (reader.i !== reader.end) throw UNSURE
  return items
}

function toolArray(reader: Reader): Item[] {
  const items: Item[] = []
  reader.expect(LBRACKET)
  reader.space()
  if (reader.bytes[reader.i] === RBRACKET) {
    reader.i++
    return items
  }
  for (;;) {
    reader.space()
    const start = reader.i
    let name: string | null = null
    if (reader.bytes[reader.i] === LBRACE) {
      let sawName = false
      reader.members((field) => {
        if (!reader.is(field, 'name')) return reader.value()
        if (sawName) throw UNSURE
        sawName = true
        if (reader.bytes[reader.i] === QUOTE) name = reader.text(reader.string())
        else reader.value()
      })
    } else reader.value()
    items.push({ start, end: reader.i, name })
    reader.space()
    const c = reader.bytes[reader.i]
    reader.i++
    if (c === RBRACKET) return items
    if (c !== COMMA) throw UNSURE
  }
}

/**
 * The message in `bytes[start, end)` without the tools `allowed` refuses: unchanged, rewritten
 * (the kept elements as they were, joined by commas), or `null` when the caller must parse it.
 */
export function filterToolListBytes(
  bytes: Uint8Array,
  start: number,
  end: number,
  allowed: (tool: string) => boolean,
): ByteFilterOutcome {
  const reader = new Reader(bytes, start, end)
  let items: Item[] | undefined
  try {
    items = toolItems(reader)
  } catch (error) {
    if (error === UNSURE) return null
    throw error
  }
  if (items === undefined) return { changed: false }
  const kept = items.filter((item) => item.name !== null && allowed(item.name))
  if (kept.length === items.length) return { changed: false }
  const first = items[0] as Item
  const last = items[items.length - 1] as Item
  let size = first.start - start + (end - last.end) + Math.max(0, kept.length - 1)
  for (const item of kept) size += item.end - item.start
  const out = new Uint8Array(size)
  let at = 0
  const copy = (from: number, to: number): void => {
    out.set(bytes.subarray(from, to), at)
    at += to - from
  }
  copy(start, first.start)
  kept.forEach((item, n) => {
    if (n > 0) out[at++] = COMMA
    copy(item.start, item.end)
  })
  copy(last.end, end)
  return { changed: true, bytes: out }
}
