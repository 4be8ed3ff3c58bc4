/**
 * Invokers written in policy (API keys, signers, key directories) are held at build time to the
 * same size limits as the ones the Worker maps from tokens and sessions (issue 12, item 2), so a
 * limit never surprises at run time.
 *
 * @module
 */
import { invokerProblem } from '../../pipeline/authenticate/claim-limits.ts'
import type { RawGatewayFile } from './schema.ts'

type Path = readonly (string | number)[]

export function checkInvokerLimits(raw: RawGatewayFile, report: (path: Path, message: string) => void): void {
  const check = (
    invoker: {
      id?: string | undefined
      kind?: string | undefined
      label?: string | undefined
      meta: Record<string, unknown>
    },
    path: Path,
  ): void => {
    const problem = invokerProblem(invoker)
    if (problem !== null) report(path, `invoker: ${problem}`)
  }
  for (const [name, key] of Object.entries(raw.api_keys)) check(key.invoker, ['api_keys', name, 'invoker'])
  for (const [name, signer] of Object.entries(raw.signers)) check(signer.invoker, ['signers', name, 'invoker'])
  raw.key_directories.forEach((directory, i) => {
    check(directory.invoker, ['key_directories', i, 'invoker'])
  })
}
