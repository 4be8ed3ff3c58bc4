/** The floor of this architecture: a Worker that only forwards to the backend. */
interface Env {
  BACKEND: string
}
export default {
  fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url)
    return fetch(env.BACKEND + url.pathname + url.search, {
      method: request.method,
      headers: request.headers,
      body: request.body,
    })
  },
}
