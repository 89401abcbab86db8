#!/usr/bin/env node
import {dirname} from 'node:path'
import {fileURLToPath} from 'node:url'

const argv = process.argv.slice(2)
const root = dirname(dirname(fileURLToPath(import.meta.url)))

// Without loading oclif (see src/startup/): `ec`, `ec --help` and `ec help`
// print a kept copy of the root help when there is a valid one, and
// `ec instance list` serves what it fully understands. Everything else, and
// whatever those decline, goes to oclif. The list comes as one file that
// `npm run build` bundles with esbuild (npm run bundle): Node then loads one
// module, not the forty-odd it is made of.
const rootHelp = argv.length === 0 || (argv.length === 1 && (argv[0] === '--help' || argv[0] === 'help'))
const help = rootHelp ? await import('../dist/startup/root-help.js') : undefined
const helpFile = help?.rootHelpFile(root, argv)
const kept = helpFile && help.readRootHelp(helpFile)
const served =
  kept ? (process.stdout.write(kept), true)
  : argv[0] === 'instance' && argv[1] === 'list' ? await (await import('../dist/startup/instance-list.bundle.js')).runInstanceList(root, argv.slice(2))
  : false
if (served) {
  // Leave once stdout and stderr have handed everything to the OS (a write's
  // callback runs after those before it), rather than wait while Node drains
  // V8's background GC work on a heap that held a thousand records: tens of ms.
  process.stdout.write('', () => process.stderr.write('', () => process.exit()))
} else {
  const {execute, settings} = await import('@oclif/core')
  // ec and its plugins run as compiled JavaScript: a linked plugin must be built
  // (npm run build in its folder). No ts-node lookup on every plugin load.
  settings.enableAutoTranspile = false
  const run = () => execute({dir: import.meta.url})
  await (helpFile ? help.recordRootHelp(helpFile, run) : run())
}
