/**
 * Independent RFC 9421 signers for the envelope tests: `http-message-signatures` (dhensby; the
 * most faithful to the RFC) and Cloudflare's `web-bot-auth`, both Node libraries, run here in
 * Node behind a small HTTP service the workerd tests call. The service also is the Web Bot Auth
 * key directory of its bot key.
 *
 *   GET  /keys                                           public keys and key ids, for policy
 *   POST /sign/httpsig       { alg, keyid, request, fields, nonce?, created?, expires? }
 *   POST /sign/web-bot-auth  { request, components?, signature_agent? }
 *   GET  /.well-known/http-message-signatures-directory  the bot key
 *
 * A signing answer is the request's headers with the signature fields added.
 */
import {
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign as nodeSign,
  createHmac,
  type KeyObject,
} from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { httpbis, type SigningKey } from 'http-message-signatures'
import { jwkToKeyID, signatureHeaders } from 'web-bot-auth'
import { signerFromJWK } from 'web-bot-auth/crypto'
import { freePort } from './ports.ts'

export interface SignableRequest {
  method: string
  url: string
  headers: Record<string, string>
}

export interface IndependentSigners {
  origin: string
  close(): Promise<void>
}

type HttpsigAlg = 'ed25519' | 'ecdsa-p256-sha256' | 'rsa-pss-sha512' | 'rsa-v1_5-sha256' | 'hmac-sha256'

export async function startIndependentSigners(): Promise<IndependentSigners> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const ed = generateKeyPairSync('ed25519')
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const hmacSecret = randomBytes(32)
  const bot = generateKeyPairSync('ed25519')
  const botJwk = bot.privateKey.export({ format: 'jwk' })
  const botPublic = bot.publicKey.export({ format: 'jwk' })
  const botKeyId = await jwkToKeyID(
    botPublic as Parameters<typeof jwkToKeyID>[0],
    (data: BufferSource) => crypto.subtle.digest('SHA-256', data),
    (bytes: ArrayBuffer) => Buffer.from(bytes).toString('base64url'),
  )

  const privateKeys: Record<Exclude<HttpsigAlg, 'hmac-sha256'>, KeyObject> = {
    ed25519: ed.privateKey,
    'ecdsa-p256-sha256': p256.privateKey,
    'rsa-pss-sha512': rsa.privateKey,
    'rsa-v1_5-sha256': rsa.privateKey,
  }

  /** A SigningKey for the library, signing with Node's crypto as the library's README shows. */
  function signingKey(alg: HttpsigAlg, keyid: string): SigningKey {
    return {
      id: keyid,
      alg,
      async sign(data: Buffer): Promise<Buffer> {
        switch (alg) {
          case 'ed25519':
            return nodeSign(null, data, privateKeys.ed25519)
          case 'ecdsa-p256-sha256':
            return nodeSign('sha256', data, { key: privateKeys['ecdsa-p256-sha256'], dsaEncoding: 'ieee-p1363' })
          case 'rsa-pss-sha512':
            return nodeSign('sha512', data, { key: privateKeys['rsa-pss-sha512'], padding: 6, saltLength: 64 })
          case 'rsa-v1_5-sha256':
            return nodeSign('sha256', data, privateKeys['rsa-v1_5-sha256'])
          case 'hmac-sha256':
            return createHmac('sha256', createSecretKey(hmacSecret)).update(data).digest()
        }
      },
    }
  }

  async function read(req: import('node:http').IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    return JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>
  }

  const server: Server = createServer((req, res) => {
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    }
    void (async () => {
      try {
        if (req.url === '/keys') {
          return json(200, {
            ed25519: ed.publicKey.export({ format: 'jwk' }),
            'ecdsa-p256-sha256': p256.publicKey.export({ format: 'jwk' }),
            'rsa-pss-sha512': rsa.publicKey.export({ format: 'jwk' }),
            'rsa-v1_5-sha256': rsa.publicKey.export({ format: 'jwk' }),
            hmacSecret: hmacSecret.toString('base64'),
            bot: { jwk: botPublic, keyid: botKeyId, directory: origin },
          })
        }
        if (req.url === '/.well-known/http-message-signatures-directory') {
          res
            .writeHead(200, { 'content-type': 'application/http-message-signatures-directory+json' })
            .end(JSON.stringify({ keys: [botPublic] }))
          return
        }
        if (req.url === '/sign/httpsig' && req.method === 'POST') {
          const body = await read(req)
          const request = body['request'] as SignableRequest
          const now = new Date((body['created'] as number | undefined) ?? Date.now())
          const paramValues: Record<string, Date | string> = {
            created: now,
            expires: new Date((body['expires'] as number | undefined) ?? now.getTime() + 60_000),
          }
          const params = ['created', 'expires', 'keyid', 'alg']
          if (body['nonce'] !== null) {
            paramValues['nonce'] = (body['nonce'] as string | undefined) ?? randomBytes(16).toString('base64url')
            params.push('nonce')
          }
          const signed = await httpbis.signMessage(
            {
              key: signingKey(body['alg'] as HttpsigAlg, body['keyid'] as string),
              fields: body['fields'] as string[],
              params,
              paramValues,
              name: (body['label'] as string | undefined) ?? 'sig1',
            },
            { method: request.method, url: request.url, headers: { ...request.headers } },
          )
          return json(200, { headers: signed.headers })
        }
        if (req.url === '/sign/web-bot-auth' && req.method === 'POST') {
          const body = await read(req)
          const request = body['request'] as SignableRequest
          // The directory's origin, or another Signature-Agent value a test asks for (any string).
          const headers = new Headers({
            ...request.headers,
            'signature-agent': JSON.stringify((body['signature_agent'] as string | undefined) ?? origin),
          })
          const signer = await signerFromJWK(botJwk as JsonWebKey)
          const now = new Date()
          const signature = await signatureHeaders({ method: request.method, url: request.url, headers }, signer, {
            created: now,
            expires: new Date(now.getTime() + 60_000),
            ...(body['components'] ? { components: body['components'] as never } : {}),
          })
          const out: Record<string, string> = {}
          headers.forEach((value, name) => {
            out[name] = value
          })
          return json(200, {
            headers: { ...out, 'signature-input': signature['Signature-Input'], signature: signature.Signature },
          })
        }
        json(404, { error: 'not found' })
      } catch (error) {
        json(500, { error: String(error) })
      }
    })()
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    origin,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
