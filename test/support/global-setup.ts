/** Starts the real test backend once for the workerd tests and hands its origin over. */
import type { TestProject } from 'vitest/node'
import { startTestBackend } from './backend.ts'
import { testSigningKeys } from './signing-keys.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    backendOrigin: string
    signingKeys: string
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const backend = await startTestBackend()
  project.provide('backendOrigin', backend.origin)
  project.provide('signingKeys', JSON.stringify(await testSigningKeys()))
  return () => backend.close()
}
