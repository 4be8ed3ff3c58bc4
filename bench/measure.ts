/**
 * What the bench measures with, apart from the rows: core pinning (`taskset`), workerd's CPU
 * time from the kernel's per-thread schedstat counters, the load generator, latency at rest and
 * bursts.
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { promisify } from 'node:util'
import autocannon from 'autocannon'

const run = promisify(execFile)

export interface Pinning {
  /** Whether workerd runs alone on its core(s), away from the load generator and the backend. */
  pinned: boolean
  /** The CPU workerd runs on (when pinned). */
  workerdCpu: number | null
  /** The CPUs the bench process (load generator), the backend and Redis run on (when pinned). */
  loadCpus: number[]
  /** Why the run is not pinned, in plain words; `null` when it is. */
  unpinnedBecause: string | null
  /** The command prefix that starts a process on workerd's core (`[]` when not pinned). */
  workerdPrefix: string[]
}

/** The CPUs this process may run on (its affinity mask, which a container's cpuset narrows). */
export function allowedCpus(): number[] {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Cpus_allowed_list:'))
  if (!line) return []
  return line
    .slice(line.indexOf(':') + 1)
    .trim()
    .split(',')
    .flatMap((part) => {
      const [from, to] = part.split('-').map(Number) as [number, number | undefined]
      return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i)
    })
}

async function hasTaskset(): Promise<boolean> {
  try {
    await run('taskset', ['--version'])
    return true
  } catch {
    return false
  }
}

/**
 * Pins this process (every thread: autocannon runs here, and the Upstash adapter) to all allowed
 * CPUs but one, and reserves that one for workerd. Children spawned later (the backend, Redis)
 * inherit this process's mask, so they stay off workerd's core. `BENCH_PIN=0` runs unpinned.
 */
export async function pin(): Promise<Pinning> {
  const cpus = allowedCpus()
  const unpinned = (why: string): Pinning => ({
    pinned: false,
    workerdCpu: null,
    loadCpus: cpus,
    unpinnedBecause: why,
    workerdPrefix: [],
  })
  if (process.env['BENCH_PIN'] === '0') return unpinned('BENCH_PIN=0 was set')
  if (cpus.length < 2) return unpinned(`the bench may use ${cpus.length} CPU, and pinning needs two`)
  if (!(await hasTaskset())) return unpinned('`taskset` (util-linux) is not installed')
  const workerdCpu = Number(process.env['BENCH_WORKERD_CPU'] ?? cpus[0])
  if (!cpus.includes(workerdCpu))
    return unpinned(`BENCH_WORKERD_CPU=${workerdCpu} is not one of the allowed CPUs (${cpus.join(',')})`)
  const loadCpus = cpus.filter((c) => c !== workerdCpu)
  await run('taskset', ['-a', '-p', '-c', loadCpus.join(','), String(process.pid)])
  return {
    pinned: true,
    workerdCpu,
    loadCpus,
    unpinnedBecause: null,
    workerdPrefix: ['taskset', '-c', String(workerdCpu)],
  }
}

/**
 * CPU time of every thread of a process, from `/proc/<pid>/task/<tid>/schedstat` (nanoseconds
 * on CPU, nanoseconds waiting on a run queue; CONFIG_SCHED_INFO). Exact, unlike `/proc/<pid>/stat`
 * (10 ms ticks); summed over threads because workerd's work is not all on its event-loop thread
 * (V8's GC and compiler threads, the kernel work charged to each). A thread that exits between
 * two readings takes its time with it: `threads` lets a caller see that the set changed.
 */
export interface CpuReading {
  /** CPU time, µs. */
  onCpu: number
  /** Time runnable but waiting for a CPU (another process had it), µs. */
  waiting: number
  threads: Set<string>
  /** Wall clock, µs. */
  at: number
}

export function readCpu(pid: number): CpuReading {
  if (!schedstatAvailable(pid)) return readStat(pid)
  let onCpu = 0
  let waiting = 0
  const threads = new Set<string>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let text: string
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')
    } catch {
      continue // the thread exited between the listing and the read
    }
    const [run, wait] = text.split(' ')
    onCpu += Number(run) / 1000
    waiting += Number(wait) / 1000
    threads.add(tid)
  }
  return { onCpu, waiting, threads, at: performance.now() * 1000 }
}

/** Whether the kernel keeps schedstat (CONFIG_SCHED_INFO); else CPU time comes from `/proc/<pid>/stat`. */
export function schedstatAvailable(pid: number): boolean {
  return existsSync(`/proc/${pid}/task/${pid}/schedstat`)
}

/** The fallback: utime + stime of the whole process (exited threads included), in 10 ms ticks; no wait time. */
function readStat(pid: number): CpuReading {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  const ticks = Number(fields[11]) + Number(fields[12])
  return {
    onCpu: (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND,
    waiting: 0,
    threads: new Set(),
    at: performance.now() * 1000,
  }
}
const CLOCK_TICKS_PER_SECOND = 100

export interface CpuWindow {
  /** CPU time in the window, µs. */
  cpu: number
  /** Share of the window the process was on a CPU (1 = one core busy all the time). */
  busy: number
  /** Share of the window it was runnable but waited for a CPU. */
  waited: number
  /** Whether threads started or exited in the window (an exited thread's time is lost). */
  threadsChanged: boolean
}

export function cpuBetween(before: CpuReading, after: CpuReading): CpuWindow {
  const wall = after.at - before.at
  const threadsChanged =
    before.threads.size !== after.threads.size || [...before.threads].some((t) => !after.threads.has(t))
  return {
    cpu: after.onCpu - before.onCpu,
    busy: (after.onCpu - before.onCpu) / wall,
    waited: (after.waiting - before.waiting) / wall,
    threadsChanged,
  }
}

export interface LoadSample {
  rps: number
  /** Requests completed in the window. */
  requests: number
  /** workerd's CPU per request in the window, µs (all threads, schedstat). */
  cpuPerRequest: number
  workerd: CpuWindow
  /** The load side's processes (this one: autocannon; the backend) in the same window. */
  loadSide: CpuWindow
  p50: number
  p99: number
}

export interface LoadOptions {
  connections: number
  seconds: number
  workerdPid: number
  /** Processes on the load side (besides this one) whose CPU is reported. */
  loadPids: number[]
}

/**
 * Fixed-concurrency load with autocannon; workerd's CPU counted over exactly this window. With a
 * `body`, every request is a POST of it.
 */
export async function load(
  url: string,
  headers: Record<string, string>,
  o: LoadOptions,
  body?: string,
): Promise<LoadSample> {
  const sideBefore = [process.pid, ...o.loadPids].map(readCpu)
  const before = readCpu(o.workerdPid)
  const request = body === undefined ? {} : { method: 'POST' as const, body }
  const result = await autocannon({
    url,
    headers,
    ...request,
    connections: o.connections,
    duration: o.seconds,
    pipelining: 1,
  })
  const after = readCpu(o.workerdPid)
  const sideAfter = [process.pid, ...o.loadPids].map(readCpu)
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  const workerd = cpuBetween(before, after)
  const sides = sideBefore.map((b, i) => cpuBetween(b, sideAfter[i] as CpuReading))
  const loadSide: CpuWindow = {
    cpu: sides.reduce((s, w) => s + w.cpu, 0),
    busy: sides.reduce((s, w) => s + w.busy, 0),
    waited: sides.reduce((s, w) => s + w.waited, 0),
    threadsChanged: false,
  }
  return {
    rps: result.requests.average,
    requests: result.requests.total,
    cpuPerRequest: workerd.cpu / result.requests.total,
    workerd,
    loadSide,
    p50: result.latency.p50,
    p99: result.latency.p99,
  }
}

export async function waitForPort(port: number, deadline: number): Promise<void> {
  for (;;) {
    const open = await new Promise<boolean>((r) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end()
        r(true)
      })
      socket.on('error', () => r(false))
    })
    if (open) return
    if (Date.now() > deadline) throw new Error(`workerd did not open port ${port}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export interface Latency {
  p50: number
  p90: number
  p99: number
}

/**
 * Latency with nothing queued: one keep-alive connection, one request at a time, timed in
 * microseconds. Under the fixed-concurrency load, workerd is saturated and a request's latency
 * is mostly its wait behind the others (it follows throughput); here it is the request's own way
 * through the Worker and back. With a `body`, every request is a POST of it.
 */
export async function latencyAtRest(
  url: string,
  headers: Record<string, string>,
  count: number,
  body?: string,
): Promise<Latency> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const target = new URL(url)
  const method = body === undefined ? 'GET' : 'POST'
  const sent = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }
  const once = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        { host: target.hostname, port: target.port, path: target.pathname, method, headers: sent, agent },
        (response) => {
          response.resume()
          response.on('end', () =>
            response.statusCode === 200 ? resolve() : reject(new Error(`${url}: status ${response.statusCode}`)),
          )
        },
      )
      outgoing.on('error', reject)
      outgoing.end(body)
    })
  try {
    for (let i = 0; i < 50; i++) await once()
    const micros: number[] = []
    for (let i = 0; i < count; i++) {
      const started = performance.now()
      await once()
      micros.push((performance.now() - started) * 1000)
    }
    micros.sort((a, b) => a - b)
    const at = (q: number): number => micros[Math.min(micros.length - 1, Math.floor(q * micros.length))] as number
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99) }
  } finally {
    agent.destroy()
  }
}

/** `n` requests at once (one connection each), all 200 or it throws. */
export async function burst(url: string, headers: Record<string, string>, n: number): Promise<void> {
  const agent = new Agent({ keepAlive: false, maxSockets: n })
  const target = new URL(url)
  try {
    const statuses = await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<number>((resolve, reject) => {
            const outgoing = httpRequest(
              { host: target.hostname, port: target.port, path: target.pathname, headers, agent },
              (response) => {
                response.resume()
                response.on('end', () => resolve(response.statusCode ?? 0))
              },
            )
            outgoing.on('error', reject)
            outgoing.end()
          }),
      ),
    )
    const failed = statuses.filter((s) => s !== 200)
    if (failed.length > 0)
      throw new Error(`${url}: ${failed.length} of ${n} not 200 (${[...new Set(failed)].join(', ')})`)
  } finally {
    agent.destroy()
  }
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Median and range of a set of per-round figures. */
export interface Spread {
  median: number
  min: number
  max: number
  /** The per-round values, in round order. */
  values: number[]
}

export function spread(values: number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v))
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, values }
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), values }
}
