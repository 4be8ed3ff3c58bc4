/**
 * Worker entry: the gateway built from the policies compiled at build time
 * (`npm run build:policies` writes `policy/compiled.gen.ts`; `wrangler dev`/`deploy` run it).
 */
import { createGateway } from './app.ts'
import { compiledPolicy } from './policy/compiled.gen.ts'

export default createGateway(compiledPolicy)
export { GatewayStoreObject } from './store/durable-object-class.ts'
