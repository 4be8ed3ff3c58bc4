import { describe, expect, it } from 'vitest'
import { StoreUnavailableError, withTimeout } from './types.ts'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('withTimeout', () => {
  it('issue 12 item 11: a call that throws synchronously is a store failure, and leaves no timer to reject unhandled', async () => {
    const rejections: unknown[] = []
    const listener = (event: PromiseRejectionEvent): void => void rejections.push(event.reason)
    addEventListener('unhandledrejection', listener)
    try {
      let caught: unknown
      try {
        await withTimeout(() => {
          throw new TypeError('the client could not be built')
        }, 30)
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(StoreUnavailableError)
      expect((caught as StoreUnavailableError).timedOut).toBe(false)
      await sleep(80)
      expect(rejections).toEqual([])
    } finally {
      removeEventListener('unhandledrejection', listener)
    }
  })

  it('bounds a slow call and says it timed out', async () => {
    const started = Date.now()
    await expect(withTimeout(() => sleep(500), 30)).rejects.toMatchObject({ timedOut: true })
    expect(Date.now() - started).toBeLessThan(400)
  })
})
