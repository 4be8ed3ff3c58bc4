/**
 * The Python package's pytest suite, run from here so that `npm test` runs it and CI's summary
 * line counts it: pytest runs once while this file is collected, and each pytest test becomes one
 * test here that fails with pytest's own failure text. A pytest that cannot start, fails to
 * collect, or runs nothing fails the first test.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PYTHON, pythonEnv } from '../support/python.ts'

interface PytestResult {
  nodeid: string
  when: string
  outcome: 'passed' | 'failed' | 'skipped'
  longrepr: string
}

const reportDir = mkdtempSync(join(tmpdir(), 'igw-pytest-'))
const report = join(reportDir, 'report.json')
const run = spawnSync(PYTHON, ['-m', 'pytest', 'packages/verifier-python/tests', '-q', '-p', 'no:cacheprovider'], {
  encoding: 'utf8',
  env: pythonEnv({ INVOKER_PYTEST_REPORT: report }),
  timeout: 300_000,
})
const parsed = existsSync(report)
  ? (JSON.parse(readFileSync(report, 'utf8')) as { exitstatus: number; results: PytestResult[] })
  : null
const results = parsed?.results ?? []
rmSync(reportDir, { recursive: true, force: true })

describe('Python verifier (pytest)', () => {
  it('pytest ran and collected the suite', () => {
    const output = `${run.stdout ?? ''}\n${run.stderr ?? ''}\n${run.error?.message ?? ''}`
    expect(parsed, `pytest wrote no report:\n${output}`).not.toBeNull()
    expect(
      results.filter((r) => r.when === 'collect'),
      output,
    ).toEqual([])
    expect(results.length, output).toBeGreaterThan(50)
    expect(run.status, output).toBe(0)
  })

  it.each(results.filter((r) => r.when !== 'collect').map((r) => [r.nodeid, r] as const))('%s', (_, result) => {
    if (result.outcome === 'skipped') return
    expect(result.outcome, result.longrepr).toBe('passed')
  })
})
