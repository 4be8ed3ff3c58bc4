/**
 * The gateway, built from the benchmark's policies (compiled by bench/run.ts). The Durable Object
 * binding is wrapped to count the objects the gateway calls (one RPC per `idFromName` in the
 * store's code): rate-limit counters (`rl:`) and concurrency counters (`cc:`), read by the bench
 * at `/__bench/store-calls`; it adds one JS call per store call.
 */
import { createGateway } from '../../src/app.ts'
import type { Bindings } from '../../src/env.ts'
import { compiledPolicy } from '../out/policy.gen.ts'
export { GatewayStoreObject } from '../../src/store/durable-object-class.ts'

const gateway = createGateway(compiledPolicy)
let storeCalls = 0
let slotCalls = 0
const counted = new WeakMap<object, Bindings['GATEWAY_STORE']>()

function counting(namespace: NonNullable<Bindings['GATEWAY_STORE']>): NonNullable<Bindings['GATEWAY_STORE']> {
  let wrapped = counted.get(namespace)
  if (wrapped === undefined) {
    wrapped = {
      idFromName(name: string) {
        if (name.startsWith('rl:')) storeCalls++
        else if (name.startsWith('cc:')) slotCalls++
        return namespace.idFromName(name)
      },
      get: (id: DurableObjectId) => namespace.get(id),
    } as unknown as NonNullable<Bindings['GATEWAY_STORE']>
    counted.set(namespace, wrapped)
  }
  return wrapped
}

export default {
  fetch(request: Request, env: Bindings, ctx: ExecutionContext): Response | Promise<Response> {
    if (new URL(request.url).pathname === '/__bench/store-calls') return Response.json({ calls: storeCalls, slotCalls })
    return gateway.fetch(request, env.GATEWAY_STORE ? { ...env, GATEWAY_STORE: counting(env.GATEWAY_STORE) } : env, ctx)
  },
}
