/** The Worker bundle as `wrangler deploy` builds it: small, and free of build-time libraries. */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'

const MAX_GZIPPED_BYTES = 150 * 1024

/**
 * How far a size the README states ("N KiB raw, M KiB gzipped") may be from the build: the
 * figures are rounded and small changes should not fail the suite, but a stale figure must.
 */
const README_TOLERANCE = 0.06

/** Every "N KiB raw, M KiB gzipped" in the README, with its line. */
function readmeSizes(): Array<{ line: number; raw: number; gzipped: number }> {
  return readFileSync('README.md', 'utf8')
    .split('\n')
    .flatMap((text, i) =>
      [...text.matchAll(/(\d+) KiB raw, (\d+) KiB gzipped/g)].map((m) => ({
        line: i + 1,
        raw: Number(m[1]),
        gzipped: Number(m[2]),
      })),
    )
}

describe('worker bundle', () => {
  it('builds with wrangler deploy --dry-run, ≤ 150 KiB gzipped, with no YAML parser or schema library, as large as the README says', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'igw-bundle-'))
    await promisify(execFile)('wrangler', ['deploy', '--dry-run', '--outdir', outdir], {
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      timeout: 120_000,
    })
    const files = readdirSync(outdir).filter((f) => f.endsWith('.js'))
    const code = files.map((f) => readFileSync(join(outdir, f), 'utf8')).join('\n')
    const gzipped = gzipSync(code).length
    console.info(`bundle: ${code.length} bytes raw, ${gzipped} bytes gzipped`)
    expect(gzipped).toBeLessThanOrEqual(MAX_GZIPPED_BYTES)
    for (const marker of ['YAMLParseError', 'LineCounter', 'ZodError', '$ZodType', 'toJSONSchema'])
      expect(code).not.toContain(marker)
    expect(code).toContain('invoker+jwt')

    // The README's figures are this measurement, not a memory of an older build.
    const measured = { raw: Math.round(code.length / 1024), gzipped: Math.round(gzipped / 1024) }
    const stated = readmeSizes()
    expect(stated.length).toBeGreaterThan(0)
    for (const { line, raw, gzipped: gz } of stated) {
      const hint = `README.md:${line} says ${raw} KiB raw, ${gz} KiB gzipped; the build is ${measured.raw} KiB raw, ${measured.gzipped} KiB gzipped: update the line`
      expect(Math.abs(raw - measured.raw) / measured.raw, hint).toBeLessThanOrEqual(README_TOLERANCE)
      expect(Math.abs(gz - measured.gzipped) / measured.gzipped, hint).toBeLessThanOrEqual(README_TOLERANCE)
    }
  }, 150_000)
})
