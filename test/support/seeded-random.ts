/**
 * A small deterministic generator (a linear congruential one), so a failing random sequence in a
 * test can be replayed from its seed.
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}
