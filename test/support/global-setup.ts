/**
 * Starts, once for the workerd tests, the real test backend and a real redis-server behind the
 * Upstash REST adapter, and hands their addresses over.
 */
import type { TestProject } from 'vitest/node'
import { startTestBackend } from './backend.ts'
import { testSigningKeys } from './signing-keys.ts'
import { startUpstashRestAdapter } from './upstash-rest.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    backendOrigin: string
    signingKeys: string
    upstashUrl: string
    upstashToken: string
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const backend = await startTestBackend()
  project.provide('backendOrigin', backend.origin)
  project.provide('signingKeys', JSON.stringify(await testSigningKeys()))
  const upstash = await startUpstashRestAdapter()
  project.provide('upstashUrl', upstash.url)
  project.provide('upstashToken', upstash.token)
  return async () => {
    await backend.close()
    await upstash.close()
  }
}
