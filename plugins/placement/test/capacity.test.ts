// The shortage explanation is pure, so it is tested on literal inventories.
import {expect} from 'chai'

import {capacityOf, explainShortage, type HostCapacity, type ProviderCapacity} from '../src/capacity.js'

function provider(name: string, inventory: Record<string, number>, usage: Record<string, number> = {}): ProviderCapacity {
  return {
    name,
    inventory: Object.fromEntries(Object.entries(inventory).map(([rc, total]) => [rc, {total, reserved: 0, allocation_ratio: 1}])),
    usage,
  }
}

/** A flat host: one provider with everything. */
function host(name: string, inventory: Record<string, number>, usage: Record<string, number> = {}): HostCapacity {
  return {name, providers: [provider(name, inventory, usage)]}
}

/** A host with DISK_GB on the root and VCPU/MEMORY_MB on two NUMA children. */
function numaHost(name: string, disk: number, perNode: Record<string, number>, nodeUsage: Record<string, number>[] = [{}, {}]): HostCapacity {
  return {
    name,
    providers: [provider(name, {DISK_GB: disk}), provider(`${name}_NUMA0`, perNode, nodeUsage[0]), provider(`${name}_NUMA1`, perNode, nodeUsage[1])],
  }
}

describe('shortage explanation', () => {
  it('computes capacity as (total - reserved) * allocation_ratio', () => {
    expect(capacityOf({total: 8, reserved: 2, allocation_ratio: 4})).to.equal(24)
    expect(capacityOf({total: 3, reserved: 0, allocation_ratio: 1.5})).to.equal(4)
  })

  it('names the resource that ran out and the host with the most of it', () => {
    const hosts = [host('host-a', {VCPU: 8, MEMORY_MB: 4096}, {MEMORY_MB: 2048}), host('host-b', {VCPU: 8, MEMORY_MB: 2048}, {MEMORY_MB: 1024})]
    expect(explainShortage({resources: {VCPU: 1, MEMORY_MB: 4096}}, hosts)).to.equal(
      'no host has 4096 MEMORY_MB free (most free: 2048 on host-a); free capacity or ask for less',
    )
  })

  it('says when no host offers a resource class at all', () => {
    expect(explainShortage({resources: {CUSTOM_GPU: 1}}, [host('host-a', {VCPU: 8})])).to.match(/^no host offers CUSTOM_GPU;/)
  })

  it('says when each resource fits somewhere but never together', () => {
    const hosts = [host('host-a', {VCPU: 8, MEMORY_MB: 1024}), host('host-b', {VCPU: 1, MEMORY_MB: 8192})]
    expect(explainShortage({resources: {VCPU: 4, MEMORY_MB: 4096}}, hosts)).to.match(
      /^no single host has 4 VCPU, 4096 MEMORY_MB free at once \(closest: host-[ab] with/,
    )
  })

  it('blames max_unit when the room is there but one allocation may not be that large', () => {
    const limited: HostCapacity = {name: 'host-a', providers: [{name: 'host-a', inventory: {VCPU: {total: 64, max_unit: 16}}, usage: {}}]}
    expect(explainShortage({resources: {VCPU: 32}}, [limited])).to.equal('no host takes more than 16 VCPU in one allocation (max_unit); ask for less')
  })

  it('has nothing to explain when the request fits', () => {
    expect(explainShortage({resources: {VCPU: 1}}, [host('host-a', {VCPU: 8})])).to.equal(undefined)
  })

  describe('NUMA hosts (resources on children)', () => {
    const pinned = (vcpus: number, memory: number) => ({resources: {DISK_GB: 1}, groups: [{resources: {VCPU: vcpus, MEMORY_MB: memory}}]})

    it('finds the VCPU and memory of the NUMA children: a request that fits one node is no shortage', () => {
      expect(explainShortage(pinned(4, 2048), [numaHost('numa-a', 100, {VCPU: 4, MEMORY_MB: 4096})])).to.equal(undefined)
    })

    it('names the node with the most free when no node has enough of one class', () => {
      const hosts = [numaHost('numa-a', 100, {VCPU: 4, MEMORY_MB: 4096}, [{VCPU: 3}, {VCPU: 1}])]
      expect(explainShortage(pinned(4, 1024), hosts)).to.equal('no host has 4 VCPU free (most free: 3 on numa-a_NUMA1); free capacity or ask for less')
    })

    it('says no single node holds the group when its classes are free on different nodes', () => {
      const hosts = [numaHost('numa-a', 100, {VCPU: 4, MEMORY_MB: 4096}, [{MEMORY_MB: 4096}, {VCPU: 4}])]
      expect(explainShortage(pinned(2, 2048), hosts)).to.match(
        /^no single provider \(host or NUMA node\) has 2 VCPU, 2048 MEMORY_MB free at once \(closest: numa-a_NUMA[01] with .*\); ask for less or split the guest across NUMA nodes$/,
      )
    })

    it('counts a flat host and a NUMA host side by side', () => {
      const hosts = [numaHost('numa-a', 100, {VCPU: 2, MEMORY_MB: 1024}), host('flat-b', {VCPU: 8, MEMORY_MB: 8192, DISK_GB: 100})]
      expect(explainShortage(pinned(8, 8192), hosts)).to.equal(undefined)
    })
  })

  describe('diskless hosts (disk from shared storage)', () => {
    const diskless = (name: string, shared: ProviderCapacity[]): HostCapacity => ({name, providers: [provider(name, {VCPU: 8, MEMORY_MB: 8192}), ...shared]})

    it('finds DISK_GB on the sharing provider the host reaches', () => {
      const array = provider('array-1', {DISK_GB: 10_000})
      expect(explainShortage({resources: {VCPU: 1, DISK_GB: 8000}}, [diskless('compute-1', [array])])).to.equal(undefined)
    })

    it('names the shared disk with the most free when none has room', () => {
      const hosts = [diskless('compute-1', [provider('array-1', {DISK_GB: 10_000}, {DISK_GB: 9000}), provider('array-2', {DISK_GB: 100_000}, {DISK_GB: 70_000})])]
      expect(explainShortage({resources: {VCPU: 1, DISK_GB: 50_000}}, hosts)).to.equal(
        'no host has 50000 DISK_GB free (most free: 30000 on array-2); free capacity or ask for less',
      )
    })

    it('says no disk at all when a diskless host reaches no shared storage', () => {
      expect(explainShortage({resources: {VCPU: 1, DISK_GB: 1}}, [diskless('compute-1', [])])).to.match(/^no host offers DISK_GB;/)
    })

    it('says no single host has it all when the disk is reached only by a host without the memory', () => {
      const array = provider('array-1', {DISK_GB: 10_000})
      const hosts = [diskless('compute-1', [array]), host('big-2', {VCPU: 8, MEMORY_MB: 65_536})]
      expect(explainShortage({resources: {MEMORY_MB: 32_768, DISK_GB: 100}}, hosts)).to.match(/^no single host has 32768 MEMORY_MB, 100 DISK_GB free at once \(closest: /)
    })
  })
})
