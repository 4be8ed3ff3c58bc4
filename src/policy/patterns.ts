/**
 * The shapes of the names and ids that several parts of the gateway accept: the policy compiler,
 * the admin endpoint, the CLI and the API key format. Written once, so that a name the CLI
 * accepts is one the policy and the endpoint accept too, and a key id the format mints is one
 * every checker takes.
 *
 * @module
 */

/**
 * A name the policy gives: a pack (and its file), an API key, a signer, an issuer, a rule.
 * Lower-case, so that it reads the same in a file name, a log field and a token's `aud`; at most
 * 63 characters, a DNS label's length.
 */
export const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/
/** {@link NAME} in words, for messages that say what a name may be. */
export const NAME_RULE = 'lower-case letters, digits, "-" and "_" (at most 63 characters)'

/** The characters of an API key's parts (`keys/api-key-format.ts`): no separators to escape. */
export const BASE62_CLASS = '[0-9A-Za-z]'
/** An API key's id: found in the key itself, so the gateway looks the key up without a scan. */
export const KEY_ID_LENGTH = 8
export const KEY_ID = new RegExp(`^${BASE62_CLASS}{${KEY_ID_LENGTH}}$`)

/** A SHA-256 digest as the policy and the admin endpoint carry it: 64 lower-case hex characters. */
export const SHA256_HEX = /^[0-9a-f]{64}$/

/** The name of an invoker's `meta` field, as rules, rate-limit keys and claim mappings write it. */
export const META_FIELD = '[A-Za-z0-9_-]+'

/** An HTTP field name the policy sets or reads (the X-Invoker header, the delegation header). */
export const HEADER_NAME = /^[A-Za-z0-9-]+$/
