#!/usr/bin/env node
// Bundles the backend modules of ec's own plugins that short-lived commands
// load (npm run bundle, part of npm run build), each into one ES module beside
// the plugin's dist file, with the manifest @ec/plugin-api's importBundled
// checks before taking it (packages/plugin-api/src/bundled.ts):
//   plugins/etcd/dist/transport.bundle.mjs        the gRPC transport (etcd3, grpc-js, protobufjs)
//   plugins/etcd/dist/transport.bundle.json
//   plugins/placement/dist/scheduler.bundle.mjs   the Placement scheduler (its own modules, ~20)
//   plugins/placement/dist/scheduler.bundle.json
// Node then compiles one file instead of the ~200 a create loaded for them.
// @ec/plugin-api stays an import of its own: its error classes must be the
// ones core checks errors against.
//
// etcd3 parses its .proto files when it loads (protobufjs, ~40 ms): in the
// bundle it builds the same definitions from their parse, made here.
import {createHash} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {basename, dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const BUNDLES = ['plugins/etcd/dist/transport.js', 'plugins/placement/dist/scheduler.js']

// etcd3 loads its protos with @grpc/proto-loader's loadSync(file, options);
// fromJSON(parse, options) of the same loader answers the same from a parse.
const etcd3 = dirname(createRequire(join(root, 'package.json')).resolve('etcd3/package.json'))
const protoLoader = createRequire(join(etcd3, 'lib', 'connection-pool.js')).resolve('@grpc/proto-loader')
const protobuf = createRequire(protoLoader)('protobufjs')
const PROTO_LOADER_SHIM = 'etcd3-parsed-protos'

/** Each .proto etcd3 loads, by file name: protobufjs's parse as JSON (keepCase, as etcd3 asks). */
function parsedProtos() {
  const rpc = join(etcd3, 'proto', 'rpc.proto')
  return {[basename(rpc)]: new protobuf.Root().loadSync(rpc, {keepCase: true}).toJSON()}
}

const etcdProtos = {
  name: 'etcd3-parsed-protos',
  setup(b) {
    b.onResolve({filter: /^@grpc\/proto-loader$/}, (args) =>
      args.importer.startsWith(join(etcd3, 'lib') + '/') ? {path: PROTO_LOADER_SHIM, namespace: PROTO_LOADER_SHIM} : undefined,
    )
    b.onLoad({filter: /.*/, namespace: PROTO_LOADER_SHIM}, () => ({
      contents: [
        `const loader = require(${JSON.stringify(protoLoader)})`,
        `const parsed = ${JSON.stringify(parsedProtos())}`,
        'module.exports = {...loader, loadSync(file, options) {',
        "  const json = parsed[file.split('/').at(-1)]",
        '  return json ? loader.fromJSON(json, options) : loader.loadSync(file, options)',
        '}}',
      ].join('\n'),
      loader: 'js',
      resolveDir: root,
    }))
  },
}

/** The manifest: each input by path relative to the bundle's directory; a package by its package.json. */
function manifestOf(metafile, outdir) {
  const files = new Set()
  for (const input of Object.keys(metafile.inputs)) {
    if (input.startsWith(`${PROTO_LOADER_SHIM}:`)) continue
    const file = resolve(root, input)
    const inPackage = file.lastIndexOf('/node_modules/')
    if (inPackage === -1) {
      files.add(file)
      continue
    }

    const rest = file.slice(inPackage + '/node_modules/'.length).split('/')
    const name = rest[0].startsWith('@') ? rest.slice(0, 2).join('/') : rest[0]
    files.add(join(file.slice(0, inPackage), 'node_modules', name, 'package.json'))
  }

  const inputs = {}
  for (const file of [...files].sort()) inputs[relative(outdir, file)] = createHash('sha256').update(readFileSync(file)).digest('hex')
  return {inputs}
}

for (const module of BUNDLES) {
  const entry = join(root, module)
  const outfile = entry.replace(/\.js$/, '.bundle.mjs')
  const {metafile} = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['@ec/plugin-api'],
    // The CommonJS libraries inside call require() and read __dirname: give them both.
    banner: {
      js: [
        "import {createRequire as createRequireInBundle} from 'node:module';",
        "import {dirname as dirnameInBundle} from 'node:path';",
        "import {fileURLToPath as fileURLToPathInBundle} from 'node:url';",
        'const require = createRequireInBundle(import.meta.url);',
        'const __filename = fileURLToPathInBundle(import.meta.url);',
        'const __dirname = dirnameInBundle(__filename);',
      ].join(' '),
    },
    plugins: [etcdProtos],
    metafile: true,
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
  })
  writeFileSync(outfile.replace(/\.mjs$/, '.json'), `${JSON.stringify(manifestOf(metafile, dirname(outfile)), null, 2)}\n`)
}
