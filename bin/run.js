#!/usr/bin/env node
// CommonJS (bin/package.json says so): Node starts a CommonJS entry without
// setting up its ES module loader, a few ms sooner, and the fast paths below
// are CommonJS bundles for the same reason. oclif and ec's commands load as
// before.
'use strict'
const {dirname, join} = require('node:path')

const argv = process.argv.slice(2)
const root = dirname(__dirname)

// Without loading oclif (see src/startup/): `ec`, `ec --help` and `ec help`
// print a kept copy of the root help when there is a valid one, and
// `ec instance list` and `ec instance create` serve what they fully
// understand. Everything else, and whatever those decline, goes to oclif. Each
// comes as one file that `npm run build` bundles with esbuild
// (scripts/bundle-startup.mjs): Node then loads one module, not the forty-odd
// the list is made of. The list's and create's bundles load with the code V8
// compiled for them last time (src/startup/code-cache.ts).
async function main() {
  const rootHelp = argv.length === 0 || (argv.length === 1 && (argv[0] === '--help' || argv[0] === 'help'))
  const help = rootHelp ? require('../dist/startup/root-help.bundle.cjs') : undefined
  const helpFile = help?.rootHelpFile(root, argv)
  const kept = helpFile && help.readRootHelp(helpFile)
  const served =
    kept ? (process.stdout.write(kept), true)
    : argv[0] === 'instance' && argv[1] === 'list' ? await serveFast('instance-list', 'runInstanceList', argv.slice(2))
    : argv[0] === 'instance' && argv[1] === 'create' ? await serveFast('instance-create', 'runInstanceCreate', argv.slice(2))
    : false
  if (served) {
    // Leave once stdout and stderr have handed everything to the OS (a write's
    // callback runs after those before it), rather than wait while Node drains
    // V8's background GC work on a heap that held a thousand records: tens of ms.
    process.stdout.write('', () => process.stderr.write('', () => process.exit()))
  } else {
    const {execute, settings} = require('@oclif/core')
    // ec and its plugins run as compiled JavaScript: a linked plugin must be built
    // (npm run build in its folder). No ts-node lookup on every plugin load.
    settings.enableAutoTranspile = false
    // The root itself: from this file oclif would take bin/package.json for ec's.
    const run = () => execute({dir: root})
    await (helpFile ? help.recordRootHelp(helpFile, run) : run())
  }
}

/** Run `run` of dist/startup/<bundle>.bundle.cjs; whether it served the command (false: oclif runs it). */
async function serveFast(bundle, run, args) {
  const {dirs, requireCompiled} = require('../dist/startup/code-cache.cjs')
  const loaded = requireCompiled(join(root, 'dist', 'startup', `${bundle}.bundle.cjs`), dirs(process.env).cacheDir)
  const done = await loaded.exports[run](root, args)
  if (done) await loaded.keep()
  return done
}

main()
