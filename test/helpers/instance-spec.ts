// The smallest instance a unit test of core flows asks for: 1 VCPU, 512 MB,
// 1 GB, no traits, keys or metadata; a test overrides what it is about.
import type {InstanceSpec} from '../../src/instances/model.js'

export function smallSpec(image: string, overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    vcpus: 1,
    memoryMb: 512,
    diskGb: 1,
    resources: {VCPU: 1, MEMORY_MB: 512, DISK_GB: 1},
    requiredTraits: [],
    forbiddenTraits: [],
    memberOf: [],
    image: {ref: image, path: image},
    publicKeys: [],
    meta: {},
    ...overrides,
  }
}
