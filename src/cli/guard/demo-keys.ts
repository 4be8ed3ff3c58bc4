/**
 * The API keys whose full text is public (README.md prints them for the demo). The guard knows
 * them by key id and by SHA-256, never by name: renaming `demo-alice` to `alice` in policy does
 * not make her key secret. Add a key here whenever a key is published anywhere.
 *
 * @module
 */
export const PUBLIC_DEMO_KEYS: ReadonlyArray<{ keyId: string; sha256: string; where: string }> = [
  {
    keyId: 'qG4an6Js',
    sha256: '131b447706880816bfd561b818389383e7958de3b7a1578aabeb2112d6e91f3a',
    where: 'README.md (Alice)',
  },
  {
    keyId: 'qmUuv6oj',
    sha256: 'ab57701394e5b9e803a07d4f7796c5ec3e6a1f3837b18619bc9c7a50f98db1b2',
    where: 'README.md (Bob)',
  },
]
