/** The Python the tests run: Debian's (its python3-* packages serve /usr/bin/python3), else PATH's. */
import { existsSync } from 'node:fs'

export const PYTHON = process.env['INVOKER_PYTHON'] ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3')

/** Environment for Python processes: the verifier package from the source tree, no .pyc files. */
export function pythonEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONPATH: 'packages/verifier-python/src', PYTHONDONTWRITEBYTECODE: '1', ...extra }
}
