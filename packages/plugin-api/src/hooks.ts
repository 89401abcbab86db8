// What a plugin's `ec-backends` hook file and the config module it names
// need, and nothing more: ec runs every installed plugin's hook on each
// command (`ec instance list` and `create` without oclif, too), and the main
// entry also loads the TLS, download and bundle helpers a hook never uses,
// which costs each command some 10 ms. A hook imports from here:
// `import {defineBackend, defineSection} from '@ec/plugin-api/hooks'`, and its
// create() loads the backend (with the main entry) only when it is made.
export {type BackendDefinition, defineBackend, defineSection} from './define.js'
export {BACKENDS_HOOK, type BackendsHook} from './registry.js'
export type {BackendContext, BackendDescriptor, BackendKind, BackendsByKind, ConfigSection, EnvOverride, JsonSchema, Logger} from './backend.js'
export type {DiskStrategy} from './hypervisor.js'
