/**
 * The Worker the Node end-to-end tests serve with `workerd` (test/support/workerd-gateway.ts (it is typed with the Worker's types, so it lives beside the workerd tests)): the
 * gateway exactly as src/index.ts builds it, from a compiled policy handed over as a binding
 * rather than compiled into the bundle, so that each test file brings its own policy.
 */
import { createGateway } from '../../src/app.ts'
import type { Bindings } from '../../src/env.ts'
import type { CompiledPolicy } from '../../src/policy/types.ts'

export { GatewayStoreObject } from '../../src/store/durable-object-class.ts'

let gateway: ReturnType<typeof createGateway> | undefined

export default {
  fetch(
    request: Request,
    env: Bindings & { TEST_POLICY: string },
    ctx: ExecutionContext,
  ): Response | Promise<Response> {
    gateway ??= createGateway(JSON.parse(env.TEST_POLICY) as CompiledPolicy)
    return gateway.fetch(request, env, ctx)
  },
}
