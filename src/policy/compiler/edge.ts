/**
 * The pack settings about what the backend may read differently from the gateway (issue 12,
 * items 4, 17, 18): how large a signed body is read and checked before forwarding, which
 * method-override headers the backend honours, and whether ambiguous paths are refused.
 * Build time only, like the rest of the compiler.
 *
 * @module
 */
import { DEFAULT_SIGNED_BODY_LIMIT_BYTES, MAX_SIGNED_BODY_LIMIT_BYTES } from '../../constants.ts'
import type { CompiledAgent, CompiledPack } from '../types.ts'
import type { RawPackFile } from './schema.ts'
import { parseSize } from './size.ts'

export type EdgeSettings = Pick<CompiledPack, 'signedBody' | 'methodOverride' | 'strictPaths'>

export interface EdgeProblem {
  path: readonly (string | number)[]
  message: string
}

export function compileEdgeSettings(
  raw: RawPackFile,
  agents: readonly CompiledAgent[],
): { settings: EdgeSettings; problems: EdgeProblem[] } {
  const problems: EdgeProblem[] = []
  const limitText = raw.envelope?.body_limit
  const limitBytes = limitText === undefined ? DEFAULT_SIGNED_BODY_LIMIT_BYTES : parseSize(limitText)
  if (limitBytes < 1 || limitBytes > MAX_SIGNED_BODY_LIMIT_BYTES) {
    problems.push({
      path: ['envelope', 'body_limit'],
      message: `body_limit is between 1B and ${MAX_SIGNED_BODY_LIMIT_BYTES / (1024 * 1024)}MiB (what a Worker can safely hold in memory per request)`,
    })
  }
  const methodOverride = [...new Set((raw.method_override ?? []).map((name) => name.toLowerCase()))]
  return {
    settings: {
      signedBody: { limitBytes, stream: raw.envelope?.stream_body ?? false },
      methodOverride,
      // A pack's paths decide access only through its agents; there, by default, no spelling a
      // backend could read as another path is let through.
      strictPaths: raw.strict_paths ?? agents.length > 0,
    },
    problems,
  }
}
