// A backend's module from one bundled file. A module that pulls in a large
// client library (etcd3 with grpc-js and protobufjs) costs a command
// more to load as the hundreds of files it is made of than as one: each file
// is found, read and compiled on its own. A plugin's build may bundle such a
// module with esbuild (ec's scripts/bundle-backends.mjs does it for its own
// plugins); its hook then loads it through importBundled, which takes the
// bundle only while it is current, and the module's own file otherwise.
//
// Beside BUNDLE.mjs its build writes BUNDLE.json: {"inputs": {path: sha256}},
// each file the bundle was made from (for a package: its package.json, which
// names its version), by path relative to the bundle's directory. One that
// changed or is gone (a plugin rebuilt with tsc alone, a package updated)
// puts the bundle out of force until it is bundled again.
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {dirname, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

interface BundleManifest {
  inputs: Record<string, string>
}

/** Whether every file in `inputs` (path relative to `dir` → its SHA-256 when bundled) still holds what it held then. */
export function inputsUnchanged(inputs: Record<string, string>, dir: string): boolean {
  for (const [file, sha256] of Object.entries(inputs)) {
    let contents
    try {
      contents = readFileSync(resolve(dir, file))
    } catch {
      return false
    }

    if (createHash('sha256').update(contents).digest('hex') !== sha256) return false
  }

  return true
}

/** Whether the bundle at `bundle` (a file URL ending .mjs) was made from the files now beside it. */
export function bundleInForce(bundle: URL): boolean {
  let manifest: Partial<BundleManifest> | null
  try {
    manifest = JSON.parse(readFileSync(fileURLToPath(bundle.href.replace(/\.mjs$/, '.json')), 'utf8')) as Partial<BundleManifest> | null
  } catch {
    return false
  }

  const inputs = manifest?.inputs
  return typeof inputs === 'object' && inputs !== null && inputsUnchanged(inputs, dirname(fileURLToPath(bundle)))
}

/**
 * The module `unbundled` imports, from `bundle` when that is in force. Use it
 * for a module a hook loads lazily, e.g.
 * `importBundled(new URL('../transport.bundle.mjs', import.meta.url), () => import('../transport.js'))`.
 */
export async function importBundled<T>(bundle: URL, unbundled: () => Promise<T>): Promise<T> {
  return bundleInForce(bundle) ? ((await import(bundle.href)) as T) : unbundled()
}
