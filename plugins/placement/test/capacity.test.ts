// The shortage explanation is pure, so it is tested on literal inventories.
import {expect} from 'chai'

import {capacityOf, explainShortage, type HostCapacity} from '../src/capacity.js'

function host(name: string, inventory: Record<string, number>, usage: Record<string, number> = {}): HostCapacity {
  return {
    name,
    inventory: Object.fromEntries(Object.entries(inventory).map(([rc, total]) => [rc, {total, reserved: 0, allocation_ratio: 1}])),
    usage,
  }
}

describe('shortage explanation', () => {
  it('computes capacity as (total - reserved) * allocation_ratio', () => {
    expect(capacityOf({total: 8, reserved: 2, allocation_ratio: 4})).to.equal(24)
    expect(capacityOf({total: 3, reserved: 0, allocation_ratio: 1.5})).to.equal(4)
  })

  it('names the resource that ran out and the host with the most of it', () => {
    const hosts = [host('host-a', {VCPU: 8, MEMORY_MB: 4096}, {MEMORY_MB: 2048}), host('host-b', {VCPU: 8, MEMORY_MB: 2048}, {MEMORY_MB: 1024})]
    expect(explainShortage({VCPU: 1, MEMORY_MB: 4096}, hosts)).to.equal(
      'no host has 4096 MEMORY_MB free (most free: 2048 on host-a); free capacity or ask for less',
    )
  })

  it('says when no host offers a resource class at all', () => {
    expect(explainShortage({CUSTOM_GPU: 1}, [host('host-a', {VCPU: 8})])).to.match(/^no host offers CUSTOM_GPU;/)
  })

  it('says when each resource fits somewhere but never together', () => {
    const hosts = [host('host-a', {VCPU: 8, MEMORY_MB: 1024}), host('host-b', {VCPU: 1, MEMORY_MB: 8192})]
    expect(explainShortage({VCPU: 4, MEMORY_MB: 4096}, hosts)).to.match(/^no single host has 4 VCPU, 4096 MEMORY_MB free at once \(closest: host-[ab] with/)
  })

  it('blames max_unit when the room is there but one allocation may not be that large', () => {
    const limited: HostCapacity = {name: 'host-a', inventory: {VCPU: {total: 64, max_unit: 16}}, usage: {}}
    expect(explainShortage({VCPU: 32}, [limited])).to.equal('no host takes more than 16 VCPU in one allocation (max_unit); ask for less')
  })

  it('has nothing to explain when the request fits', () => {
    expect(explainShortage({VCPU: 1}, [host('host-a', {VCPU: 8})])).to.equal(undefined)
  })
})
