/** The Worker bundle as `wrangler deploy` builds it: small, and free of build-time libraries. */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'

const MAX_GZIPPED_BYTES = 150 * 1024

describe('worker bundle', () => {
  it('builds with wrangler deploy --dry-run, ≤ 150 KiB gzipped, with no YAML parser or schema library', async () => {
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
    for (const marker of ['YAMLParseError', 'LineCounter', 'ZodError', '$ZodType', 'toJSONSchema']) expect(code).not.toContain(marker)
    expect(code).toContain('invoker+jwt')
  }, 150_000)
})
