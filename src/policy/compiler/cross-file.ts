/**
 * Checks that need every file at once: two packs whose routes overlap, two MCP packs with one
 * metadata URL, issuers whose audience only MCP packs give, API keys naming packs no file
 * defines, and decision fixtures naming keys or signers the gateway does not have.
 *
 * @module
 */
import { hostsOverlap } from '../../pipeline/route/match.ts'
import { pathSegments } from '../../pipeline/route/normalize-path.ts'
import type { CompiledIssuer, CompiledPack, CompiledSigner } from '../types.ts'
import { GATEWAY_FILE, rangeStart, type Located, type PolicyError } from './located.ts'
import { addMcpAudiences, mcpMetadataClash } from './mcp.ts'
import { didYouMean } from './messages.ts'
import type { RawFixture, RawGatewayFile, RawPackFile } from './schema.ts'

export interface LoadedFixture extends RawFixture {
  file: string
  line: number
}

export interface CompiledFiles {
  gateway: Located<RawGatewayFile>
  issuers: Record<string, CompiledIssuer>
  packs: CompiledPack[]
  /** The file each compiled pack came from. */
  packOrigin: Map<string, Located<RawPackFile>>
  /** Every pack a file defines, compiled or not: a key naming a broken pack is not a second error. */
  declaredPacks: ReadonlySet<string>
}

export function checkAcrossFiles(files: CompiledFiles, errors: PolicyError[]): void {
  const { gateway, issuers, packs: compiledPacks, packOrigin, declaredPacks } = files
  checkRouteOverlaps(compiledPacks, packOrigin, errors)
  const metadataClash = mcpMetadataClash(compiledPacks)
  if (metadataClash) {
    errors.push(
      (packOrigin.get(metadataClash.pack.id) as Located<RawPackFile>).error(
        ['protocol'],
        `pack "${metadataClash.pack.id}" has the resource of pack "${metadataClash.other.id}": one metadata URL cannot describe both`,
      ),
    )
  }
  for (const name of addMcpAudiences(compiledPacks, issuers)) {
    errors.push(
      gateway.error(['issuers', name], 'an issuer needs an audience (or an MCP pack that accepts its tokens)'),
    )
  }
  for (const [name, key] of Object.entries(gateway.value.api_keys)) {
    key.packs?.forEach((id, i) => {
      if (!declaredPacks.has(id))
        errors.push(
          gateway.error(['api_keys', name, 'packs', i], `no pack is named "${id}"${didYouMean(id, declaredPacks)}`),
        )
    })
  }
}

/** Decision fixtures, with the line each starts on; they may name only keys and signers the gateway has. */
export function loadFixtures(
  fixtureDocs: ReadonlyArray<Located<RawFixture[]> | null>,
  keyNames: ReadonlySet<string>,
  signers: Record<string, CompiledSigner>,
  errors: PolicyError[],
): LoadedFixture[] {
  const fixtures: LoadedFixture[] = []
  for (const doc of fixtureDocs) {
    if (!doc) continue
    doc.value.forEach((fixture, i) => {
      const { line } = doc.lines.linePos(
        rangeStart((doc.doc.contents as { items?: unknown[] } | null)?.items?.[i]) ?? 0,
      )
      if ('api_key' in fixture.invoker && !keyNames.has(fixture.invoker.api_key)) {
        errors.push(
          doc.error(
            [i, 'invoker', 'api_key'],
            `no API key is named "${fixture.invoker.api_key}"${didYouMean(fixture.invoker.api_key, keyNames)}`,
          ),
        )
      }
      if ('signer' in fixture.invoker && !(fixture.invoker.signer in signers)) {
        errors.push(
          doc.error(
            [i, 'invoker', 'signer'],
            `no signer is named "${fixture.invoker.signer}" in ${GATEWAY_FILE}${didYouMean(fixture.invoker.signer, Object.keys(signers))}`,
          ),
        )
      }
      fixtures.push({ ...fixture, file: doc.file, line })
    })
  }
  return fixtures
}

/** Two packs overlap when some request could be routed to both: refused, so order never matters. */
function checkRouteOverlaps(
  packs: CompiledPack[],
  origin: Map<string, Located<RawPackFile>>,
  errors: PolicyError[],
): void {
  for (let i = 0; i < packs.length; i++) {
    for (let j = i + 1; j < packs.length; j++) {
      const a = packs[i] as CompiledPack
      const b = packs[j] as CompiledPack
      // As the run-time matcher compares: `example.com` also answers `example.com:8787`.
      if (a.host !== null && b.host !== null && !hostsOverlap(a.host, b.host)) continue
      const sa = pathSegments(a.pathPrefix || '/')
      const sb = pathSegments(b.pathPrefix || '/')
      const shorter = sa.length <= sb.length ? sa : sb
      const longer = shorter === sa ? sb : sa
      if (shorter.every((segment, k) => longer[k] === segment)) {
        const located = origin.get(b.id) as Located<RawPackFile>
        errors.push(located.error(['match'], `the route of pack "${b.id}" overlaps the route of pack "${a.id}"`))
      }
    }
  }
}
