#!/usr/bin/env node
/**
 * The invoker-gateway CLI (Node ≥ 22.18, runs the TypeScript sources directly). Never bundled
 * into the Worker. `invoker-gateway help` lists the commands.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { buildPolicies, GENERATED_MODULE } from './build-policies.ts'
import { checkCommand, explainCommand } from './check.ts'
import { decodeCommand } from './decode.ts'
import { deployCommand } from './deploy.ts'
import { productionCheck } from './guard/index.ts'
import { createKeyCommand, listKeysCommand, mintKeyCommand, revokeKeyCommand } from './keys.ts'
import { generateSignerCommand, signRequestCommand } from './signers.ts'
import { generateSigningKeysCommand, rotateSigningKeysCommand } from './signing-keys.ts'
import { statsCommand } from './stats.ts'

const HELP = `invoker-gateway <command>

  build                         compile policies/ into ${GENERATED_MODULE} (run by wrangler's [build])
  check [--production [--env E]]
                                validate every policy and run the decision fixtures in policies/tests/;
                                --production adds the deploy guard (demo keys, private addresses, http
                                upstreams, expired keys, unused names, missing secrets…)
  deploy [wrangler deploy options]
                                the deploy guard, then \`wrangler deploy\` when nothing refuses (npm run deploy)
  explain --url URL [--method M] [--tool NAME] (--api-key NAME | --anonymous [--ip IP] | --signer NAME [--on-behalf-of USER] | --invoker JSON)
                                print the decision for a request (method GET unless --method) and an
                                invoker, and the rule behind it. --invoker '{"id":…,"kind":…,"meta":{…}}'
                                authenticated by the pack's one method besides API keys; where the pack
                                takes several, add "method": "bearer" | "session" | "envelope". --tool: on an
                                MCP pack, a tools/call of that tool
  keys create --name NAME [--packs a,b] [--expires DATE] [--label TEXT]
                                mint an API key: prints it once, and the policy entry holding its SHA-256
  keys mint --gateway URL --name NAME --packs a,b [--expires DATE] [--kind KIND] [--label TEXT]
                                mint a key at runtime in the gateway's store (no deploy); prints it once.
                                Needs GATEWAY_ADMIN_TOKEN in the environment
  keys list --gateway URL [--json]
                                the runtime keys in the gateway's store: id, name, packs, created,
                                expires, state (never a key or a hash)
  keys revoke KEY_ID --gateway URL
                                revoke a runtime key; refused from the next request on
  signing-keys generate [--alg EdDSA|ES256] [--previous FILE]
                                a JWK set for \`wrangler secret put INVOKER_SIGNING_KEYS\`; --previous keeps
                                the current signing key published for rotation
  signing-keys rotate [--alg EdDSA|ES256] [--jwks URL|FILE] [--keep 1d] [--prepublish]
                                a new INVOKER_SIGNING_KEYS (stdout) and the previous_signing_keys lines
                                (stderr) that keep the published keys until a date; no old private key needed.
                                The published keys are read from <issuer>/.well-known/jwks.json unless --jwks
  decode TOKEN [--jwks URL --issuer ISS --audience PACK] [--method M --url URL]
                                decode an X-Invoker header; with --jwks, verify it too (a refusal
                                prints its reason code: expired, audience, wrong_request…)
  signers generate --name NAME [--alg ed25519|ecdsa-p256-sha256|rsa-pss-sha512|rsa-v1_5-sha256|hmac-sha256]
                   [--keyid ID] [--key-out FILE] [--delegate]
                                a request signer's key pair and its policy entry; the private key goes to
                                ~/.config/invoker-gateway/signers/NAME.signer.json (0600) unless --key-out
  stats --account ID [--since 1d] [--query requests|latency|refused-invokers|degraded|all] [--dataset NAME] [--json]
                                the README's Analytics Engine queries through the SQL API: requests and
                                refusals per pack and reason, added latency, refused invokers, degraded
                                requests. Needs CLOUDFLARE_API_TOKEN (Account Analytics: Read)
  sign URL --key FILE|NAME [-X METHOD] [-H "name: value"]… [-d BODY] [--components a,b] [--on-behalf-of USER] [--send]
                                sign a request (RFC 9421) and print its headers; --send sends it

Common option: --policies DIR (default: policies)`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  // Everything after `deploy` belongs to wrangler deploy; the guard reads only --env from it.
  if (command === 'deploy') return deployCommand(rest)
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      policies: { type: 'string', default: 'policies' },
      out: { type: 'string', default: GENERATED_MODULE },
      url: { type: 'string' },
      tool: { type: 'string' },
      method: { type: 'string', default: 'GET' },
      'api-key': { type: 'string' },
      anonymous: { type: 'boolean' },
      ip: { type: 'string', default: '192.0.2.1' },
      invoker: { type: 'string' },
      signer: { type: 'string' },
      name: { type: 'string' },
      packs: { type: 'string' },
      expires: { type: 'string' },
      label: { type: 'string' },
      kind: { type: 'string' },
      gateway: { type: 'string' },
      alg: { type: 'string', default: 'EdDSA' },
      previous: { type: 'string' },
      jwks: { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
      json: { type: 'boolean' },
      keyid: { type: 'string' },
      delegate: { type: 'boolean' },
      key: { type: 'string' },
      request: { type: 'string', short: 'X' },
      header: { type: 'string', short: 'H', multiple: true },
      data: { type: 'string', short: 'd' },
      components: { type: 'string' },
      'on-behalf-of': { type: 'string' },
      send: { type: 'boolean' },
      'key-out': { type: 'string' },
      production: { type: 'boolean' },
      keep: { type: 'string' },
      prepublish: { type: 'boolean' },
      env: { type: 'string', short: 'e' },
      account: { type: 'string' },
      since: { type: 'string' },
      query: { type: 'string' },
      dataset: { type: 'string' },
    },
  })
  switch (command) {
    case 'build':
      return (await buildPolicies(values.policies, values.out)) ? 0 : 1
    case 'check':
      return values.production
        ? productionCheck({ policies: values.policies, env: values.env })
        : checkCommand(values.policies)
    case 'explain':
      return await explainCommand(values.policies, values)
    case 'keys':
      if (positionals[0] === 'create') return createKeyCommand(values)
      if (positionals[0] === 'mint') return mintKeyCommand(values)
      if (positionals[0] === 'revoke') return revokeKeyCommand(positionals[1], values)
      if (positionals[0] === 'list') return listKeysCommand(values)
      break
    case 'signing-keys':
      if (positionals[0] === 'rotate')
        return rotateSigningKeysCommand({
          alg: values.alg,
          jwks: values.jwks,
          keep: values.keep,
          prepublish: values.prepublish,
          policies: values.policies,
        })
      if (positionals[0] !== 'generate') break
      return generateSigningKeysCommand(values.alg, values.previous ? readFileSync(values.previous, 'utf8') : undefined)
    case 'decode':
      return decodeCommand(positionals[0], values)
    case 'signers':
      if (positionals[0] !== 'generate') break
      return generateSignerCommand({
        ...values,
        alg: values.alg === 'EdDSA' ? undefined : values.alg,
        out: values['key-out'],
      })
    case 'stats':
      return statsCommand(values)
    case 'sign':
      return signRequestCommand(positionals[0], {
        ...values,
        method: values.request ?? (values.method === 'GET' ? undefined : values.method),
      })
    case undefined:
    case 'help':
    case '--help':
      console.log(HELP)
      return 0
  }
  console.error(HELP)
  return 2
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error))
    process.exit(1)
  },
)
