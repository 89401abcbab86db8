// Loading a bundle of src/startup/ with V8's code cache. Node 20 compiles
// every CommonJS module from its source on every start (Node 22's
// module.enableCompileCache is not here to use): for the list's bundle that is
// some 5 ms of parsing before it runs and more of compiling each function as
// it is first called. This keeps what V8 compiled during a run in ec's cache
// directory, under a key of the bundle's text, V8's version and this loader's,
// and hands it to V8 next time, which checks it again (version, flags, source)
// and compiles from source whatever it refuses.
//
// A module compiled this way has no import() of its own: Node 20 loses the
// dynamic-import callback of code that comes back from the cache ("A dynamic
// import callback was not specified"). scripts/bundle-startup.mjs therefore
// writes each import() of a bundle as a call to the `__dynamicImport` this
// loader passes in (Node's own loader passes none: the bundle then imports
// natively). Must sit beside the bundles (dist/startup/): a bare or relative
// name imported through it resolves as from the bundle's own file.
import {readdirSync, readFileSync, unlinkSync} from 'node:fs'
import {createRequire} from 'node:module'
import {basename, dirname, join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {Script} from 'node:vm'

import {cacheKey, keepInCache} from '../config/cache-files.js'

// For bin/run.js, which loads this file first: where the cache directory is.
export {dirs} from './dirs.js'

/** Changes when what this file hands V8 (the wrapper, its parameters) does. */
const LOADER = 'ec code cache 1'

export interface CompiledModule<T> {
  exports: T
  /** Whether V8 took the kept code (false: none was kept, or V8 refused it). */
  fromCache: boolean
  /** Keep V8's code for next time, unless what was used is already kept. Never throws. */
  keep(): Promise<void>
}

export function requireCompiled<T>(file: string, cacheDir: string): CompiledModule<T> {
  const source = readFileSync(file, 'utf8')
  const name = basename(file)
  const dir = join(cacheDir, 'code')
  const kept = join(dir, `${name}-${cacheKey(LOADER, process.arch, process.versions.v8, source)}.bin`)
  let cachedData: Buffer | undefined
  try {
    cachedData = readFileSync(kept)
  } catch {
    cachedData = undefined
  }

  const wrapper = `(function (exports, require, module, __filename, __dirname, __dynamicImport) {${source}\n})`
  const script = new Script(wrapper, {filename: file, cachedData})
  const module = {exports: {} as T}
  const dynamicImport = (specifier: string) => import(specifier.startsWith('.') ? pathToFileURL(join(dirname(file), specifier)).href : specifier)
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file), dynamicImport)
  const fromCache = cachedData !== undefined && !script.cachedDataRejected
  return {
    exports: module.exports,
    fromCache,
    async keep() {
      if (fromCache) return
      // After the run: the code then holds every function the run compiled.
      await keepInCache(kept, script.createCachedData(), {private: true})
      forgetOthers(dir, `${name}-`, basename(kept))
    },
  }
}

/** The code kept for earlier builds of the same bundle: never asked for again. */
function forgetOthers(dir: string, prefix: string, current: string): void {
  try {
    for (const entry of readdirSync(dir)) if (entry.startsWith(prefix) && entry !== current) unlinkSync(join(dir, entry))
  } catch {
    // Only space is lost.
  }
}
