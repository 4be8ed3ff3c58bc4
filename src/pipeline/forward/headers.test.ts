import { describe, expect, it } from 'vitest'
import { upstreamHeaders } from './headers.ts'

const base = {
  invokerHeader: 'x-invoker',
  token: 'signed.token.value',
  requestId: 'req-1',
  consumed: { headers: ['x-api-key'] },
  sessionCookies: [] as readonly string[],
  delegationHeader: 'on-behalf-of',
  passCredentials: false,
  clientAddress: '203.0.113.9',
  proto: 'https',
  host: 'agents.example.com',
  websocket: false,
  methodOverride: null,
  trace: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: null },
}

describe('upstreamHeaders', () => {
  const incoming = new Headers({
    connection: 'keep-alive, x-secret-hop',
    'keep-alive': 'timeout=5',
    'x-secret-hop': '1',
    te: 'trailers',
    upgrade: 'h2c',
    'x-invoker': 'forged',
    'X-Invoker-Claims': 'forged',
    'x-api-key': 'igw_secret',
    'x-forwarded-for': '10.0.0.1',
    forwarded: 'for=10.0.0.1',
    'x-request-id': 'client-chosen',
    accept: 'application/json',
  })

  it('strips hop-by-hop, forged X-Invoker*, consumed credentials and client forwarding fields', () => {
    const out = upstreamHeaders(incoming, base)
    for (const name of [
      'connection',
      'keep-alive',
      'x-secret-hop',
      'te',
      'upgrade',
      'x-invoker-claims',
      'x-api-key',
      'forwarded',
    ]) {
      expect(out.has(name), name).toBe(false)
    }
    expect(out.get('x-invoker')).toBe('signed.token.value')
    expect(out.get('x-forwarded-for')).toBe('203.0.113.9')
    expect(out.get('x-forwarded-proto')).toBe('https')
    expect(out.get('x-forwarded-host')).toBe('agents.example.com')
    expect(out.get('x-request-id')).toBe('req-1')
    expect(out.get('accept')).toBe('application/json')
  })

  it('drops the underscore spellings CGI-style servers read as the same fields (red team, 2026-12-01)', () => {
    const spelled = new Headers({
      x_invoker: 'forged',
      X_Invoker_Claims: 'forged',
      x_forwarded_for: '6.6.6.6',
      x_request_id: 'evil',
      x_real_ip: '6.6.6.6',
      x_api_key: 'igw_secret',
      keep_alive: 'timeout=5',
      x_backend_field: 'kept',
    })
    const out = upstreamHeaders(spelled, base)
    for (const name of [
      'x_invoker',
      'x_invoker_claims',
      'x_forwarded_for',
      'x_request_id',
      'x_real_ip',
      'x_api_key',
      'keep_alive',
    ])
      expect(out.has(name), name).toBe(false)
    expect(out.get('x_backend_field')).toBe('kept')
    expect(out.get('x-forwarded-for')).toBe('203.0.113.9')
  })

  it('passes the credential through only when the pack says so', () => {
    expect(upstreamHeaders(incoming, { ...base, passCredentials: true }).get('x-api-key')).toBe('igw_secret')
  })

  it('strips anything under a custom header name too', () => {
    const out = upstreamHeaders(new Headers({ 'x-caller': 'forged', 'x-caller-extra': 'forged' }), {
      ...base,
      invokerHeader: 'x-caller',
    })
    expect(out.get('x-caller')).toBe('signed.token.value')
    expect(out.has('x-caller-extra')).toBe(false)
  })

  it('keeps the upgrade handshake for WebSockets', () => {
    const out = upstreamHeaders(new Headers({ upgrade: 'websocket', connection: 'Upgrade' }), {
      ...base,
      websocket: true,
    })
    expect(out.get('upgrade')).toBe('websocket')
    expect(out.get('connection')).toBe('Upgrade')
  })

  it("removes the session cookies on every pack, keeping the backend's own cookies (red team 6)", () => {
    const withCookies = new Headers({ cookie: 'theme=dark; better-auth.session_token=abc.def; lang=en' })
    const session = { sessionCookies: ['better-auth.session_token', '__Secure-better-auth.session_token'] }
    expect(upstreamHeaders(withCookies, { ...base, ...session }).get('cookie')).toBe('theme=dark; lang=en')
    expect(
      upstreamHeaders(new Headers({ cookie: 'better-auth.session_token=abc' }), { ...base, ...session }).has('cookie'),
    ).toBe(false)
    expect(upstreamHeaders(withCookies, { ...base, ...session, passCredentials: true }).get('cookie')).toBe(
      'theme=dark; better-auth.session_token=abc.def; lang=en',
    )
    // Without a session configured, cookies are the backend's.
    expect(upstreamHeaders(withCookies, base).get('cookie')).toBe(
      'theme=dark; better-auth.session_token=abc.def; lang=en',
    )
  })

  it('item 17: drops request-rewriting, method-override and client-address fields', () => {
    const rewriting = [
      'x-original-url',
      'x-rewrite-url',
      'x-original-uri',
      'x-forwarded-uri',
      'x-forwarded-prefix',
      'x-forwarded-port',
      'x-host',
    ]
    const overrides = ['x-http-method-override', 'x-http-method', 'x-method-override']
    const addresses = [
      'true-client-ip',
      'x-client-ip',
      'x-cluster-client-ip',
      'cf-connecting-ip',
      'fastly-client-ip',
      'x-originating-ip',
      'x-remote-addr',
    ]
    const sent = new Headers(
      [...rewriting, ...overrides, ...addresses].map((name) => [
        name,
        name === 'x-http-method' || name.includes('override') ? 'DELETE' : '/admin',
      ]),
    )
    const out = upstreamHeaders(sent, base)
    for (const name of [...rewriting, ...overrides, ...addresses]) expect(out.has(name), name).toBe(false)
    expect(out.get('x-forwarded-for')).toBe('203.0.113.9')
  })

  it('item 17: forwards only the override fields the pack honours, carrying the method decided on', () => {
    const sent = new Headers({ 'x-http-method-override': 'delete', 'x-method-override': 'PUT' })
    const out = upstreamHeaders(sent, {
      ...base,
      methodOverride: { headers: ['x-http-method-override'], method: 'DELETE' },
    })
    expect(out.get('x-http-method-override')).toBe('DELETE')
    expect(out.has('x-method-override')).toBe(false)
  })

  it('sends the trace context the gateway chose, not the fields the client sent', () => {
    const sent = new Headers({
      traceparent: '00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01',
      tracestate: 'evil=1',
    })
    const out = upstreamHeaders(sent, base)
    expect(out.get('traceparent')).toBe(base.trace.traceparent)
    expect(out.has('tracestate')).toBe(false)
    const withState = upstreamHeaders(sent, { ...base, trace: { ...base.trace, tracestate: 'vendor=abc' } })
    expect(withState.get('tracestate')).toBe('vendor=abc')
  })

  it("F3: drops every x-forwarded-* and cf-* field and the identity proxies' fields, keeping look-alikes", () => {
    const sent = new Headers({
      'x-forwarded-user': 'admin',
      'x-forwarded-client-cert': 'By=spiffe://a',
      'cf-access-authenticated-user-email': 'admin@example.com',
      'cf-ray': '1',
      'x-auth-request-user': 'admin',
      'remote-user': 'admin',
      'x-remote-group': 'system:masters',
      'x-webauth-user': 'admin',
      'ssl-client-verify': 'SUCCESS',
      'x-ssl-client-s-dn': 'CN=admin',
      'x-client-cert': 'pem',
      'x-amzn-oidc-identity': 'admin',
      'x-ms-client-principal-name': 'admin',
      'x-goog-authenticated-user-email': 'admin',
      'x-pomerium-jwt-assertion': 'jwt',
      'x-envoy-original-path': '/admin',
      'x-user': 'kept',
      'x-email': 'kept',
      cfg: 'kept',
      ssl: 'kept',
      'x-client-name': 'kept',
      remotely: 'kept',
      a: 'kept',
    })
    const out = upstreamHeaders(sent, base)
    for (const [name, value] of sent) expect(out.get(name), name).toBe(value === 'kept' ? 'kept' : null)
    expect(out.get('x-forwarded-for')).toBe('203.0.113.9')
  })

  it('drops the delegation header on every pack unless credentials pass', () => {
    const sent = new Headers({ 'on-behalf-of': 'admin', on_behalf_of: 'admin' })
    const out = upstreamHeaders(sent, base)
    expect(out.has('on-behalf-of')).toBe(false)
    expect(out.has('on_behalf_of')).toBe(false)
    expect(upstreamHeaders(sent, { ...base, delegationHeader: 'x-acting-for' }).get('on-behalf-of')).toBe('admin')
    expect(upstreamHeaders(sent, { ...base, passCredentials: true }).get('on-behalf-of')).toBe('admin')
  })
})
