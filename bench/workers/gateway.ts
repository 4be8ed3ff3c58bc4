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
/** The env the gateway sees: the same object for every request of an env (no copy per request). */
const countedEnvs = new WeakMap<Bindings, Bindings>()

function counting(env: Bindings): Bindings {
  const namespace = env.GATEWAY_STORE
  if (namespace === undefined) return env
  let wrapped = countedEnvs.get(env)
  if (wrapped === undefined) {
    const store = {
      idFromName(name: string) {
        if (name.startsWith('rl:')) storeCalls++
        else if (name.startsWith('cc:')) slotCalls++
        return namespace.idFromName(name)
      },
      get: (id: DurableObjectId) => namespace.get(id),
    } as unknown as NonNullable<Bindings['GATEWAY_STORE']>
    wrapped = { ...env, GATEWAY_STORE: store }
    countedEnvs.set(env, wrapped)
  }
  return wrapped
}

const STORE_CALLS_PATH = '/__bench/store-calls'

export default {
  fetch(request: Request, env: Bindings, ctx: ExecutionContext): Response | Promise<Response> {
    // The harness's own path, told apart without parsing the URL (the gateway parses it once).
    if (request.url.endsWith(STORE_CALLS_PATH) && new URL(request.url).pathname === STORE_CALLS_PATH)
      return Response.json({ calls: storeCalls, slotCalls })
    return gateway.fetch(request, counting(env), ctx)
  },
}
