/** `npm start` options: flags after `--`, the environment variables, and what is refused. */
import { describe, expect, it } from 'vitest'
import { startOptions } from '../../demo/start-options.ts'

describe('npm start options', () => {
  it('defaults to 8787 and 8788', () => {
    expect(startOptions([], {})).toEqual({ gatewayPort: 8787, backendPort: 8788 })
  })

  it('takes --port and --backend-port (npm start -- --port N), over the environment variables', () => {
    expect(startOptions(['--port', '9000'], {})).toEqual({ gatewayPort: 9000, backendPort: 8788 })
    expect(
      startOptions(['--port=9100', '--backend-port', '9101'], { GATEWAY_PORT: '1', DEMO_BACKEND_PORT: '2' }),
    ).toEqual({ gatewayPort: 9100, backendPort: 9101 })
    expect(startOptions(['-p', '9200'], {})).toEqual({ gatewayPort: 9200, backendPort: 8788 })
  })

  it('still reads GATEWAY_PORT and DEMO_BACKEND_PORT', () => {
    expect(startOptions([], { GATEWAY_PORT: '7000', DEMO_BACKEND_PORT: '7001' })).toEqual({
      gatewayPort: 7000,
      backendPort: 7001,
    })
  })

  it.each([
    [['--port', 'eighty'], '--port is a port number'],
    [['--port', '70000'], '--port is a port number'],
    [['--backend-port', '8787'], 'cannot share port 8787'],
    [['--prot', '9000'], "Unknown option '--prot'"],
  ])('refuses %j', (argv, message) => {
    expect(() => startOptions(argv, {})).toThrow(message)
  })
})
