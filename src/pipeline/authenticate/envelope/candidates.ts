/**
 * Which signature of a request to verify (RFC 9421 §4.3 lets a message carry several). The
 * signer is found by the signature's `keyid` among the policy's signers, or through a covered
 * `Signature-Agent` naming a key directory the pack trusts (Web Bot Auth).
 *
 * @module
 */
import { parseDictionary, parseItem, type Dictionary, type InnerList, type Item } from 'structured-headers'
import type { EnvelopeProblem } from '../../../errors/reasons.ts'
import type { CompiledPack, CompiledPolicy, CompiledSigner, SignerInvoker } from '../../../policy/types.ts'

const SIGNATURE_AGENT = 'signature-agent'

export interface Candidate {
  input: InnerList
  signature: Uint8Array
  keyId: string
  /** A signer from policy, or the directory the request names (resolved after the cheap checks). */
  signer: CompiledSigner | { directory: string; invoker: SignerInvoker }
}

export class SignatureChoice {
  readonly #signersByKeyId = new Map<string, CompiledSigner>()
  readonly #directoryInvokers: Map<string, SignerInvoker>

  constructor(policy: CompiledPolicy) {
    for (const signer of Object.values(policy.signers)) this.#signersByKeyId.set(signer.keyId, signer)
    this.#directoryInvokers = new Map(policy.keyDirectories.map((d) => [d.origin, d.invoker]))
  }

  /**
   * The one signature to verify. Signatures by keys the pack does not know are ignored (another
   * hop may have signed too); of those it knows, there must be exactly one, as two could name
   * two callers.
   */
  choose(headers: Headers, pack: CompiledPack): Candidate | EnvelopeProblem {
    const inputField = headers.get('signature-input')
    const signatureField = headers.get('signature')
    if (inputField === null || signatureField === null) return 'malformed'
    let inputs: Dictionary
    let signatures: Dictionary
    try {
      inputs = parseDictionary(inputField)
      signatures = parseDictionary(signatureField)
    } catch {
      return 'malformed'
    }
    const known: Candidate[] = []
    for (const [label, member] of inputs) {
      if (!Array.isArray(member[0])) return 'malformed'
      const input = member as InnerList
      const value = signatures.get(label)?.[0]
      if (!(value instanceof ArrayBuffer)) return 'malformed'
      const keyId = input[1].get('keyid')
      if (typeof keyId !== 'string') continue
      const signer = this.#signersByKeyId.get(keyId)
      if (signer !== undefined) {
        if (pack.envelope.signers.includes(signer.name))
          known.push({ input, signature: new Uint8Array(value), keyId, signer })
        continue
      }
      const directory = this.#directoryOf(headers, input, pack)
      if (directory === 'agent_not_origin') return directory
      if (directory !== null) known.push({ input, signature: new Uint8Array(value), keyId, signer: directory })
    }
    if (known.length === 0) return 'signer_unknown'
    if (known.length > 1) return 'ambiguous'
    return known[0] as Candidate
  }

  /** The trusted directory a signature names through a covered `Signature-Agent`, if any. */
  #directoryOf(
    headers: Headers,
    input: InnerList,
    pack: CompiledPack,
  ): { directory: string; invoker: SignerInvoker } | 'agent_not_origin' | null {
    const value = headers.get(SIGNATURE_AGENT)
    const component = input[0].find(([name]) => name === SIGNATURE_AGENT)
    if (value === null || component === undefined) return null
    const url = signatureAgentUrl(value, component)
    if (url === null) return null
    let origin: string
    try {
      origin = new URL(url).origin
    } catch {
      return null
    }
    const invoker = this.#directoryInvokers.get(origin)
    if (invoker === undefined || !pack.envelope.directories.includes(origin)) return null
    // Web Bot Auth names a directory by its origin: a path (dot segments included), a query,
    // userinfo or another spelling of a trusted origin is refused, never reduced to it.
    if (url !== origin && url !== origin + '/') return 'agent_not_origin'
    return { directory: origin, invoker }
  }
}

/**
 * `Signature-Agent` names the directory: an sf-string in the first drafts, a dictionary member
 * (picked by the component's `key`, or the only member) in the current one.
 */
function signatureAgentUrl(value: string, component: Item): string | null {
  const key = component[1].get('key')
  try {
    if (typeof key === 'string') {
      const member = parseDictionary(value).get(key)?.[0]
      return typeof member === 'string' ? member : null
    }
    const item = parseItem(value)[0]
    if (typeof item === 'string') return item
  } catch {
    try {
      const members = [...parseDictionary(value).values()]
      const only = members.length === 1 ? members[0]?.[0] : undefined
      return typeof only === 'string' ? only : null
    } catch {
      return null
    }
  }
  return null
}
