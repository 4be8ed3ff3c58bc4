/**
 * The invoker a signer stands for, alone or acting for a user. Shared by the verifier and by
 * `explain` (and so the policy fixtures), so that both name a delegated user the same way.
 *
 * A delegated user's id lives in the signer's namespace (`chat-host:alice`): a signer that may
 * delegate can name any user, but only inside its own namespace, never an API key, an anonymous
 * caller, another signer's users or an issuer's subjects (issue 12, item 3; the build keeps the
 * namespaces apart, see `policy/compiler/id-namespaces.ts`). The bare name stays available to
 * rules (`on_behalf_of`) and to the backend (`auth.on_behalf_of`).
 *
 * @module
 */
import { MAX_INVOKER_ID_LENGTH } from '../../../constants.ts'
import type { EnvelopeProblem } from '../../../errors/reasons.ts'
import type { Authentication } from '../../../invoker.ts'
import type { CompiledSigner, SignerInvoker } from '../../../policy/types.ts'

/** A user name is one printable ASCII token: no spaces, no controls, nothing to normalize. */
const USER_NAME = /^[\x21-\x7e]+$/

export function signerAuthentication(signerName: string, invoker: SignerInvoker): Authentication {
  return { invoker: { ...invoker, meta: { ...invoker.meta } }, auth: { method: 'envelope', signer: signerName } }
}

/**
 * The user `value` (the delegation header, or a fixture's `on_behalf_of`) as an invoker of kind
 * `chat` in the signer's namespace, or why it is refused: the signer may not delegate, the name
 * is empty, too long or not one printable token, or it starts with a reserved prefix (someone
 * trying to pass for another kind of invoker).
 */
export function delegatedAuthentication(
  signer: CompiledSigner,
  value: string,
  reservedPrefixes: readonly string[],
): Authentication | EnvelopeProblem {
  if (!signer.delegate || signer.delegatedIdPrefix === null) return 'delegation_refused'
  const user = value.trim()
  if (user === '' || user.length > MAX_INVOKER_ID_LENGTH || !USER_NAME.test(user)) return 'malformed'
  if (reservedPrefixes.some((prefix) => user.startsWith(prefix))) return 'delegation_reserved'
  return {
    invoker: { id: signer.delegatedIdPrefix + user, kind: 'chat', meta: { signer: signer.invoker.id } },
    auth: { method: 'envelope', signer: signer.name, on_behalf_of: user },
  }
}
