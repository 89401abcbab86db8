// What a third party gets: `npm pack` of @ec/plugin-api installs into a
// project of its own (no registry needed: it has no dependencies), its entry
// points load in node, and a plugin typed against it compiles: the section
// reaches create() with its own type, no casts.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

const run = promisify(execFile)
const root = resolve(fileURLToPath(import.meta.url), '../../../..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

const PLUGIN = `import {type BackendDescriptor, defineBackend, defineSection, EcError, type TransportBackend} from '@ec/plugin-api'

interface NatsSettings {
  url: string
  shards: number
}

const natsSection = defineSection<NatsSettings>({
  key: 'nats',
  schema: {type: 'object', properties: {url: {type: 'string'}, shards: {type: 'integer'}}},
  defaults: () => ({url: 'nats://127.0.0.1:4222', shards: 1}),
})

declare function connect(url: string, shards: number): Promise<TransportBackend>

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    defineBackend({
      kind: 'transport',
      name: 'nats',
      description: 'NATS JetStream KV',
      config: natsSection,
      async create({section}) {
        if (section.shards < 1) throw new EcError('config', 'nats.shards must be at least 1')
        return connect(section.url, section.shards)
      },
    }),
  ]
}
`

describe('@ec/plugin-api as a third party gets it', function () {
  this.timeout(180_000)
  let dir: string | undefined
  after(async () => dir && rm(dir, {recursive: true, force: true}))

  it('packs, installs from the tarball, loads, and types a plugin without casts', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ec-plugin-api-pack-'))
    await run(npm, ['pack', '--ignore-scripts', '--pack-destination', dir], {cwd: join(root, 'packages/plugin-api')})
    const [tarball] = (await readdir(dir)).filter((f) => f.endsWith('.tgz'))
    assert.match(tarball, /^ec-plugin-api-\d+\.\d+\.\d+\.tgz$/)

    const project = join(dir, 'ec-plugin-nats')
    await run('mkdir', ['-p', project])
    await writeFile(join(project, 'package.json'), JSON.stringify({name: 'ec-plugin-nats', version: '0.0.1', type: 'module'}))
    await run(npm, ['install', '--offline', '--no-audit', '--no-fund', join(dir, tarball)], {cwd: project})

    const probe = `
      const api = await import('@ec/plugin-api')
      const kit = await import('@ec/plugin-api/testing')
      const error = new api.EcError('config', 'x')
      console.log(JSON.stringify({
        exit: error.exitCode, reportable: api.isReportable(error), hook: api.BACKENDS_HOOK,
        helpers: [typeof api.defineBackend, typeof api.loadClientTls, typeof api.hostCapacity],
        kit: [typeof kit.transportContract, typeof kit.MemoryTransport],
      }))`
    const {stdout} = await run(process.execPath, ['--input-type=module', '-e', probe], {cwd: project})
    assert.deepEqual(JSON.parse(stdout), {
      exit: 3,
      reportable: true,
      hook: 'ec-backends',
      helpers: ['function', 'function', 'function'],
      kit: ['function', 'function'],
    })

    await writeFile(join(project, 'backends.ts'), PLUGIN)
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'Node16', moduleResolution: 'Node16', strict: true, noEmit: true,
          typeRoots: [join(root, 'node_modules/@types')], types: ['node'],
        },
        files: ['backends.ts'],
      }),
    )
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', project], {cwd: project}).catch((error) => {
      throw new Error(`the plugin does not compile against the packed API:\n${error.stdout}`)
    })
  })
})
