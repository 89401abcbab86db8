// The public face of ec for plugin authors: the four backend contracts and the
// descriptor a plugin's `ec-backends` hook returns.
export * from './backend.js'
export type * from './scheduler.js'
export type * from './transport.js'
export type * from './hypervisor.js'
export type * from './metadata.js'
