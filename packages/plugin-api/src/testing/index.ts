// @ec/plugin-api/testing: the conformance kit. Contract suites (mocha) a
// backend runs against itself, and in-memory backends for fast unit tests of
// code that uses them. Run it under mocha (describe/it are mocha's globals).
export {hypervisorContract, type HypervisorContractOptions} from './hypervisor-contract.js'
export {schedulerContract, type SchedulerContractOptions} from './scheduler-contract.js'
export {transportContract, type TransportContractOptions} from './transport-contract.js'
export {serveImage, type ImageServer} from './image-server.js'
export {MemoryHypervisor, type MemoryHypervisorOptions} from './memory-hypervisor.js'
export {DISABLED_TRAIT, MemoryScheduler} from './memory-scheduler.js'
export {MemoryTransport} from './memory-transport.js'
