// @ec/plugin-api: everything a backend plugin for ec needs — the four backend
// contracts, the descriptor its `ec-backends` hook returns (defineBackend), the
// error base class with its reasons and exit codes, the registry's types, and
// helpers every backend of a kind would otherwise rewrite (client mTLS, loading
// a module from its bundle).
// ec's core imports its contracts from here too.
export * from './backend.js'
export * from './define.js'
export * from './errors.js'
export * from './host.js'
export * from './registry.js'
export * from './tls.js'
export * from './bundled.js'
export type * from './scheduler.js'
export type * from './transport.js'
export type * from './hypervisor.js'
export type * from './metadata.js'
