/**
 * The size limits every value mapped into an invoker is held to (limits and reasons in
 * `constants.ts`). Shared by the claim mapping (tokens, introspection and session answers), the
 * admin endpoint (runtime keys) and the policy compiler (invokers written in policy), so a
 * value the build accepts is one the Worker would accept too. Checked, never truncated.
 *
 * @module
 */
import {
  MAX_INVOKER_EMAIL_LENGTH,
  MAX_INVOKER_ID_LENGTH,
  MAX_INVOKER_KIND_LENGTH,
  MAX_INVOKER_LABEL_LENGTH,
  MAX_META_DEPTH,
  MAX_META_ENTRIES,
  MAX_META_STRING_LENGTH,
  MAX_META_TOTAL_CHARS,
} from '../../constants.ts'

/** What is left of the `meta` budget while one invoker's meta is walked. */
export interface MetaBudget {
  chars: number
}

export function metaBudget(): MetaBudget {
  return { chars: MAX_META_TOTAL_CHARS }
}

/**
 * Whether a JSON value fits in `meta`: every string (value or key) at most
 * {@link MAX_META_STRING_LENGTH}, every list or object at most {@link MAX_META_ENTRIES}
 * entries, nesting at most {@link MAX_META_DEPTH}, and all of it within the budget (each value
 * counts one, plus the length of every string and key). Returns why not, for the log, or `null`.
 * Stops at the first excess, so a hostile value costs at most the budget to look at.
 */
export function metaValueProblem(field: string, value: unknown, budget: MetaBudget, depth = 1): string | null {
  budget.chars -= 1
  if (typeof value === 'string') {
    if (value.length > MAX_META_STRING_LENGTH) return `${field} is longer than ${MAX_META_STRING_LENGTH} characters`
    budget.chars -= value.length
  } else if (typeof value === 'object' && value !== null) {
    if (depth > MAX_META_DEPTH) return `${field} is nested deeper than ${MAX_META_DEPTH} levels`
    if (Array.isArray(value)) {
      if (value.length > MAX_META_ENTRIES) return `${field} has more than ${MAX_META_ENTRIES} entries`
      for (const item of value) {
        const problem = metaValueProblem(field, item, budget, depth + 1)
        if (problem !== null) return problem
      }
    } else {
      const keys = Object.keys(value)
      if (keys.length > MAX_META_ENTRIES) return `${field} has more than ${MAX_META_ENTRIES} members`
      for (const key of keys) {
        if (key.length > MAX_META_STRING_LENGTH)
          return `a key in ${field} is longer than ${MAX_META_STRING_LENGTH} characters`
        budget.chars -= key.length
        const problem = metaValueProblem(`${field}.${key}`, (value as Record<string, unknown>)[key], budget, depth + 1)
        if (problem !== null) return problem
      }
    }
  }
  if (budget.chars < 0) return `meta is larger than ${MAX_META_TOTAL_CHARS} characters in all`
  return null
}

/** Text fields of an invoker and their limits (`email` lives in `meta.email`). */
export function textProblem(field: 'id' | 'kind' | 'label' | 'email', value: string): string | null {
  const limit = {
    id: MAX_INVOKER_ID_LENGTH,
    kind: MAX_INVOKER_KIND_LENGTH,
    label: MAX_INVOKER_LABEL_LENGTH,
    email: MAX_INVOKER_EMAIL_LENGTH,
  }[field]
  return value.length > limit ? `${field} is longer than ${limit} characters` : null
}

/**
 * A whole invoker as policy or an admin writes it: id (before any namespace the gateway adds),
 * kind, label and meta (with `meta.email` held to the email limit).
 */
export function invokerProblem(invoker: {
  id?: string | undefined
  kind?: string | undefined
  label?: string | undefined
  meta?: Record<string, unknown> | undefined
}): string | null {
  for (const field of ['id', 'kind', 'label'] as const) {
    const value = invoker[field]
    if (value !== undefined) {
      const problem = textProblem(field, value)
      if (problem !== null) return problem
    }
  }
  const meta = invoker.meta ?? {}
  const email = meta['email']
  if (typeof email === 'string' && email.length > MAX_INVOKER_EMAIL_LENGTH) return textProblem('email', email)
  // meta itself is depth 0: its keys and member count are held to the limits too.
  return metaValueProblem('meta', meta, metaBudget(), 0)
}
