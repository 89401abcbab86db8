import {expect} from 'chai'
import {setTimeout as sleep} from 'node:timers/promises'

import {WorkQueue} from '../../src/agent/work-queue.js'

describe('agent work queue', () => {
  it('runs at most `concurrency` jobs at once and all of them eventually', async () => {
    const queue = new WorkQueue(3)
    let running = 0
    let peak = 0
    let done = 0
    for (let i = 0; i < 20; i++) {
      queue.push(`i${i}`, async () => {
        running++
        peak = Math.max(peak, running)
        await sleep(5)
        running--
        done++
      })
    }

    expect(await queue.drain(5000)).to.equal(true)
    expect(done).to.equal(20)
    expect(peak).to.equal(3)
  })

  it('runs one job per key at a time, in arrival order', async () => {
    const queue = new WorkQueue(4)
    const log: string[] = []
    for (const step of ['a', 'b', 'c']) {
      queue.push('same', async () => {
        log.push(`start ${step}`)
        await sleep(5)
        log.push(`end ${step}`)
      })
    }

    await queue.drain(5000)
    expect(log).to.deep.equal(['start a', 'end a', 'start b', 'end b', 'start c', 'end c'])
  })

  it('a preempting job aborts what runs and what waits for its key, then runs', async () => {
    const queue = new WorkQueue(4)
    const log: string[] = []
    const abortable = (name: string) => async (signal: AbortSignal) => {
      log.push(`start ${name}`)
      while (!signal.aborted) await sleep(2)
      log.push(`aborted ${name}`)
    }

    queue.push('x', abortable('build'))
    queue.push('x', abortable('second'))
    await sleep(10)
    queue.push('x', async () => void log.push('delete'), {preempt: true})
    await queue.drain(5000)
    expect(log).to.deep.equal(['start build', 'aborted build', 'start second', 'aborted second', 'delete'])
  })

  it('stops taking work once draining, and reports when the grace period runs out', async () => {
    const queue = new WorkQueue(1)
    queue.push('slow', (signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve())))
    expect(await queue.drain(30)).to.equal(false)
    let ran = false
    queue.push('late', async () => void (ran = true))
    queue.abortAll()
    await sleep(10)
    expect(ran).to.equal(false)
    expect(queue.busy).to.equal(0)
  })

  it('push resolves once its job has run, after the jobs queued before it for the key, and also when it failed', async () => {
    const queue = new WorkQueue(2)
    const log: string[] = []
    void queue.push('x', async () => {
      await sleep(20)
      log.push('first')
    })
    await queue.push('x', async () => {
      log.push('second')
      throw new Error('reported by the job itself')
    })
    expect(log).to.deep.equal(['first', 'second'])
    expect(queue.has('x')).to.equal(false)
  })
})
