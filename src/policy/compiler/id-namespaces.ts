/**
 * Keeps the ids of every kind of invoker apart (issue 12, item 3), so that no caller can take an
 * id that rules, rate limits and backends know as someone else's:
 *
 * - anonymous callers are `anon:…` and API keys `apikey:<name>` (unless policy names an id);
 * - the users a delegating signer acts for live in the signer's namespace, `<prefix><user>`
 *   (the prefix is the signer's `id_prefix`, by default `<signer invoker id>:`);
 * - token and session subjects are the issuer's, behind its `id_prefix` when it has one.
 *
 * Two namespaces collide when one prefix starts with the other (every suffix is possible), so
 * the build refuses a delegation namespace that collides with `anon:`, `apikey:`, another
 * signer's namespace or an issuer's non-empty `id_prefix`, and an id written in policy that
 * falls into a delegation namespace or `anon:`. What the build cannot see, a token subject
 * under an issuer without a prefix, is compiled into lists the Worker checks per token (see
 * `ClaimMapping.reservedIdPrefixes` and `reservedIds`): the namespaces above, the other issuers'
 * and the session's `id_prefix`, and the ids policy gives signers, key directories and API keys.
 *
 * @module
 */
import { foldId, foldText } from '../../fold.ts'
import type { ClaimMapping, CompiledPolicy } from '../types.ts'
import type { RawGatewayFile } from './schema.ts'

/** Id namespaces of the built-in kinds: anonymous callers and API keys. */
export const RESERVED_ID_PREFIXES: readonly string[] = ['anon:', 'apikey:']

type Path = readonly (string | number)[]
type Report = (path: Path, message: string) => void

function collide(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a)
}

/** The compiled sections whose ids can collide, and the file they came from. */
export type IdNamespaceInput = Pick<
  CompiledPolicy,
  'apiKeys' | 'issuers' | 'session' | 'signers' | 'keyDirectories'
> & { raw: RawGatewayFile }

/**
 * Checks the namespaces, fills every claim mapping's `reservedIdPrefixes`, and returns the
 * prefixes a delegated user name may not start with.
 */
export function applyIdNamespaces(input: IdNamespaceInput, report: Report): string[] {
  const { raw, apiKeys, issuers, session, signers, keyDirectories } = input
  const namespaces: Array<{ signer: string; prefix: string; path: Path }> = []
  for (const [name, signer] of Object.entries(signers)) {
    const written = raw.signers[name]?.id_prefix
    if (written !== undefined && !signer.delegate) {
      report(
        ['signers', name, 'id_prefix'],
        'id_prefix names the namespace of the users a signer acts for: it needs delegate: true',
      )
    }
    if (signer.delegatedIdPrefix === null) continue
    namespaces.push({
      signer: name,
      prefix: signer.delegatedIdPrefix,
      path: ['signers', name, written !== undefined ? 'id_prefix' : 'delegate'],
    })
  }

  const issuerPrefixes: Array<{ what: string; mapping: ClaimMapping; path: Path }> = Object.values(issuers).map(
    (issuer) => ({
      what: `issuer "${issuer.name}"`,
      mapping: issuer.claims,
      path: ['issuers', issuer.name, 'claims', 'id_prefix'],
    }),
  )
  // A JWT session cookie maps claims with its issuer's prefix: checked with the issuer, filled below.
  const sessionMapping = session?.verify.claims ?? null
  if (session?.verify.by === 'introspection') {
    issuerPrefixes.push({
      what: 'the session',
      mapping: session.verify.claims,
      path: ['session', 'introspection', 'claims', 'id_prefix'],
    })
  }

  for (const [i, ns] of namespaces.entries()) {
    const where = `the ids of the users signer "${ns.signer}" acts for ("${ns.prefix}…")`
    for (const reserved of RESERVED_ID_PREFIXES) {
      if (collide(ns.prefix, reserved))
        report(ns.path, `${where} could be taken for "${reserved}" ids: give the signer another id_prefix`)
    }
    for (const other of namespaces.slice(i + 1)) {
      if (collide(ns.prefix, other.prefix))
        report(
          other.path,
          `${where} and those of signer "${other.signer}" ("${other.prefix}…") could collide: give one another id_prefix`,
        )
    }
    for (const { what, mapping } of issuerPrefixes) {
      if (mapping.idPrefix !== '' && collide(ns.prefix, mapping.idPrefix)) {
        report(
          ns.path,
          `${where} could collide with the ids of ${what} (id_prefix "${mapping.idPrefix}"): give one another prefix`,
        )
      }
    }
  }

  const delegation = namespaces.map((ns) => ns.prefix)
  const fixed = (id: string, path: Path, reserved: readonly string[]): void => {
    const taken = reserved.find((prefix) => id.startsWith(prefix))
    if (taken !== undefined)
      report(path, `the id "${id}" falls into the "${taken}" namespace of another kind of invoker`)
  }
  for (const record of Object.values(apiKeys)) {
    const written = raw.api_keys[record.name]?.invoker.id !== undefined
    if (written) fixed(record.invoker.id, ['api_keys', record.name, 'invoker', 'id'], ['anon:', ...delegation])
  }
  for (const [name, signer] of Object.entries(signers)) {
    fixed(
      signer.invoker.id,
      ['signers', name, raw.signers[name]?.invoker.id !== undefined ? 'invoker' : 'keyid'],
      [...RESERVED_ID_PREFIXES, ...delegation],
    )
  }
  keyDirectories.forEach((directory, i) => {
    fixed(directory.invoker.id, ['key_directories', i, 'invoker'], [...RESERVED_ID_PREFIXES, ...delegation])
  })

  const reserved = [...RESERVED_ID_PREFIXES, ...delegation]
  for (const { what, mapping, path } of issuerPrefixes) {
    const swallowed =
      mapping.idPrefix === '' ? undefined : reserved.find((prefix) => mapping.idPrefix.startsWith(prefix))
    if (swallowed !== undefined)
      report(path, `every id of ${what} would fall into the "${swallowed}" namespace of another kind of invoker`)
  }
  // The namespaces operators give issuers (and the session) so their subjects cannot meet: an
  // issuer whose own prefix does not settle it must not reach into another's. Issuers that share
  // one prefix share their users, as written.
  const userPrefixes = [...new Set(issuerPrefixes.map(({ mapping }) => mapping.idPrefix).filter((p) => p !== ''))]
  const policyIds = [
    ...Object.values(signers).map((signer) => signer.invoker.id),
    ...keyDirectories.map((directory) => directory.invoker.id),
    ...Object.values(apiKeys)
      .filter((record) => raw.api_keys[record.name]?.invoker.id !== undefined)
      .map((record) => record.invoker.id),
  ]
  // What a prefix does not settle, the Worker checks per token, on the id folded as a backend
  // may fold it (fold.ts): the lists are folded here, once.
  const fill = (mapping: ClaimMapping): void => {
    const own = foldText(mapping.idPrefix)
    const others = userPrefixes.map(foldText).filter((prefix) => prefix !== own)
    mapping.reservedIdPrefixes = [...new Set([...reserved.map(foldText), ...others])].filter((prefix) =>
      prefix.startsWith(own),
    )
    mapping.reservedIds = [...new Set(policyIds.map(foldId))].filter((id) => id.startsWith(own))
  }
  for (const { mapping } of issuerPrefixes) fill(mapping)
  if (sessionMapping !== null) fill(sessionMapping)
  return reserved
}
