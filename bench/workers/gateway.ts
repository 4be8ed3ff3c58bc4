/** The gateway, built from the benchmark's policies (compiled by bench/run.ts). */
import { createGateway } from '../../src/app.ts'
import { compiledPolicy } from '../out/policy.gen.ts'

export default createGateway(compiledPolicy)
export { GatewayStoreObject } from '../../src/store/durable-object-class.ts'
