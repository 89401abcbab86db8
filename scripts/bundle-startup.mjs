#!/usr/bin/env node
// Bundles the paths bin/run.js serves without oclif (src/startup/) into one
// CommonJS file each under dist/startup/ (npm run bundle, part of npm run
// build), so Node compiles one module rather than the forty-odd the list is
// made of, and never sets up its ES module loader for them:
//   root-help.bundle.cjs       `ec`, `ec --help`, `ec help` (root-help.ts)
//   instance-list.bundle.cjs   `ec instance list` (instance-list.ts)
//   instance-create.bundle.cjs `ec instance create` (instance-create.ts)
//   code-cache.cjs             loads those two with V8's code cache
//                              (code-cache.ts), which needs each import() of
//                              the bundle written as a call (__import)
//
// The `ec-backends` hooks of ec's own plugins go into both bundles too, with
// what they load when the command opens its backends (etcd's short-lived
// HTTP/2 client; for create, Placement's scheduler): the command would
// otherwise import each hook, @ec/plugin-api and their config modules one
// file at a time. Every other module a hook loads when it creates a backend
// (the gRPC transport, libvirt, the metadata servers) stays a file of its
// own, imported from the plugin's dist as before, so bundling never loads it
// sooner. A bundle records the SHA-256 of each plugin
// file it holds: it runs the bundled hooks only while every one is unchanged
// (a plugin rebuilt on its own is imported from its files again;
// backend-hooks.ts).
import {createHash} from 'node:crypto'
import {readFileSync, realpathSync, writeFileSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {parse} from 'acorn'
import {build} from 'esbuild'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const outdir = join(root, 'dist', 'startup')
/** Loaded lazily by a bundled hook and wanted in the bundle: the backends each command creates. */
const CLI_TRANSPORT = join(root, 'plugins', 'etcd', 'dist', 'cli-transport.js')
const SCHEDULER = join(root, 'plugins', 'placement', 'dist', 'scheduler.js')
/**
 * Loaded only when needed: Ajv to compile a changed config schema, js-yaml to
 * parse a changed config file (src/config/yaml-cache.ts), cosmiconfig for a
 * config that is not YAML.
 */
const EXTERNAL = ['ajv', 'cosmiconfig', 'js-yaml', '@oclif/core']

/** The hook files of ec's own plugins that answer `ec-backends`, as the root package.json lists them. */
function firstPartyHooks() {
  const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const hooks = []
  for (const name of pjson.oclif.plugins) {
    const dir = join(root, 'node_modules', name)
    const plugin = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    const hook = plugin.oclif?.hooks?.['ec-backends']
    if (typeof hook === 'string') hooks.push(realpathSync(resolve(dir, hook)))
  }

  return hooks
}

/** The entry of a fast path's bundle: `run` of `source`, given ec's own plugins' hooks from the same bundle. */
function fastPathEntry(source, run, hooks, inputs) {
  const lines = [`import {${run} as run} from ${JSON.stringify(join(root, 'src', 'startup', source))}`]
  for (const [i, file] of hooks.entries()) lines.push(`import hook${i} from ${JSON.stringify(file)}`)
  const bundled = hooks.map((file, i) => `${JSON.stringify(relative(root, file))}: hook${i}`)
  lines.push(
    `const bundled = {hooks: {${bundled.join(', ')}}, inputs: ${JSON.stringify(inputs)}}`,
    `export const ${run} = (root, args, env) => run(root, args, env, bundled)`,
    '// For the tests: what the command runs from the bundle.',
    'export {bundled as bundledHooks}',
  )
  return lines.join('\n')
}

// A lazy import in a plugin stays an import of the plugin's own file, unless
// the command creates that backend (`inline`). (One through importBundled
// looks for its backend bundle beside this bundle, where there is none, and so
// imports the plugin's file, or the copy inlined here.)
const lazyPluginModules = (inline) => ({
  name: 'lazy-plugin-modules',
  setup(b) {
    b.onResolve({filter: /.*/}, (args) => {
      if (args.kind !== 'dynamic-import' || !args.importer.startsWith(join(root, 'plugins') + '/')) return undefined
      const target = resolve(dirname(args.importer), args.path)
      if (inline.includes(target)) return undefined
      return {path: `./${relative(outdir, target)}`, external: true}
    })
  },
})

const COMMON = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  absWorkingDir: root,
  external: EXTERNAL,
  // CommonJS has no import.meta: give the bundle's own file URL (validator.ts resolves Ajv's runtime from it).
  banner: {js: 'const import_meta_url = require("node:url").pathToFileURL(__filename).href;'},
  define: {'import.meta.url': 'import_meta_url'},
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
}

await build({...COMMON, entryPoints: [join(root, 'src', 'startup', 'root-help.ts')], outfile: join(outdir, 'root-help.bundle.cjs')})
await build({...COMMON, entryPoints: [join(root, 'src', 'startup', 'code-cache.ts')], outfile: join(outdir, 'code-cache.cjs')})

/**
 * Each import() of `code` as a call to __import: the __dynamicImport that
 * code-cache.ts passes in, else (loaded by Node's own require) import()
 * itself. Found by parsing, so text that only looks like an import is left be.
 */
function importsThroughLoader(code) {
  const starts = []
  const visit = (node) => {
    if (node === null || typeof node !== 'object') return
    if (Array.isArray(node)) return node.forEach(visit)
    if (node.type === 'ImportExpression') starts.push(node.start)
    for (const [key, value] of Object.entries(node)) if (key !== 'type' && key !== 'start' && key !== 'end') visit(value)
  }

  visit(parse(code, {ecmaVersion: 'latest', sourceType: 'script'}))
  let out = code
  for (const start of starts.sort((a, b) => b - a)) {
    if (out.slice(start, start + 6) !== 'import') throw new Error(`bundle-startup: no import() at ${start}`)
    out = `${out.slice(0, start)}__import${out.slice(start + 6)}`
  }

  const choice = 'const __import = typeof __dynamicImport === "function" ? __dynamicImport : (specifier) => import(specifier);'
  return `${choice}\n${out}`
}

/** dist/startup/<name>.bundle.cjs: `run` of src/startup/<name>.ts with ec's own plugins' hooks and the backend modules in `inline`. */
async function bundleFastPath(name, run, inline) {
  const bundle = (inputs) =>
    build({
      ...COMMON,
      stdin: {contents: fastPathEntry(`${name}.ts`, run, firstPartyHooks(), inputs), resolveDir: root, sourcefile: `${name}-bundle-entry.js`, loader: 'js'},
      outfile: join(outdir, `${name}.bundle.cjs`),
      plugins: [lazyPluginModules(inline)],
      metafile: true,
      write: false,
    })

  // First pass: which plugin files the bundle holds; second: the bundle, with their digests.
  const {metafile} = await bundle(undefined)
  const inputs = {}
  for (const input of Object.keys(metafile.inputs)) {
    const file = relative(root, resolve(root, input))
    if (!file.startsWith('plugins/')) continue
    inputs[file] = createHash('sha256').update(readFileSync(join(root, file))).digest('hex')
  }

  const {outputFiles} = await bundle(inputs)
  // Loading oclif would undo what the bundle is for.
  if (/require\("@oclif\/core"\)/.test(outputFiles[0].text)) throw new Error(`bundle-startup: ${name} loads @oclif/core; import what it needs from a file that does not`)
  writeFileSync(outputFiles[0].path, importsThroughLoader(outputFiles[0].text))
}

await bundleFastPath('instance-list', 'runInstanceList', [CLI_TRANSPORT])
// A create's scheduler too: compiled with the bundle's code cache, where its own bundle would be parsed and compiled each time.
await bundleFastPath('instance-create', 'runInstanceCreate', [CLI_TRANSPORT, SCHEDULER])
