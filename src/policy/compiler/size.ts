/** Byte sizes in policy files (`1MiB`), like durations: a whole number and a unit. Build time only. */
import { z } from 'zod'

const SIZE = /^(\d+)(B|KiB|MiB)$/

export const size = z
  .string()
  .regex(SIZE, { message: 'a size is a whole number and a unit: 512KiB, 1MiB (B, KiB, MiB)' })
  .describe('A whole number and a unit: B, KiB, MiB (e.g. 1MiB).')

export function parseSize(text: string): number {
  const found = SIZE.exec(text)
  if (!found) throw new Error(`not a size: ${text}`)
  return Number(found[1]) * { B: 1, KiB: 1024, MiB: 1024 * 1024 }[found[2] as 'B' | 'KiB' | 'MiB']
}
