import {Args, Flags} from '@oclif/core'
import {Listr} from 'listr2'
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'

import {agentDir} from '../../agent/agent-dir.js'
import {agentStateDirFlag} from '../../agent/state-dir-flag.js'
import {stateDirOverride} from '../../control-plane/from-config.js'
import {EcCommand} from '../../ec-command.js'
import type {ImageInfo, Progress} from '@ec/plugin-api'
import {EcError} from '../../errors.js'
import {imageNamesDir, knownImages, nameImage, validateImageName} from '../../images/names.js'
import {quote} from '../../output/escape.js'
import {resolveImage} from '../../scheduling/request.js'

export default class ImagePull extends EcCommand<typeof ImagePull> {
  static override summary = "Fetch an image into this host's cache ahead of time, showing the download's progress."
  static override description = `REF is a configured image name, an http(s) URL or a disk image file. A URL is downloaded once into the host's cache (the agent's --state-dir decides where) and checked; a later create on this host starts from the cached copy. A file is inspected where it lies, as a create would. With --name N, \`ec instance create --image N\` on this host means this image from then on: the URL or file and the sha256 it had when pulled (a create checks it). With --json, one line at the end: the image's path, format, size, sha256 and name.`
  static override examples = [
    '<%= config.bin %> image pull https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2 --name bookworm',
    '<%= config.bin %> image pull ./disk.qcow2 --name mine --user admin',
    '<%= config.bin %> image pull debian --json',
  ]
  static override enableJsonFlag = true
  static override args = {ref: Args.string({description: 'A configured image name, an http(s) URL, or a path to a disk image.', required: true})}
  static override flags = {
    sha256: Flags.string({description: "The image's expected sha256 (a configured image's own is used otherwise)."}),
    name: Flags.string({description: 'Name the image: `ec instance create --image NAME` on this host then uses it (a later pull with the same name moves it).'}),
    user: Flags.string({description: 'With --name: the user `ec instance ssh` logs in as on guests of this image (default debian).', dependsOn: ['name']}),
    'state-dir': agentStateDirFlag,
  }

  /** One line, for scripts that read the last line. */
  public override logJson(json: unknown): void {
    process.stdout.write(JSON.stringify(json) + '\n')
  }

  async run(): Promise<ImageInfo & {name?: string}> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const {name} = this.flags
    if (name !== undefined) {
      validateImageName(name)
      if (config.values.images[name]) {
        throw new EcError('conflict', `image name ${quote(name)} is configured (images.${name}); give the pulled image another --name`)
      }
    }

    const images = knownImages(config.values.images, agentDir(config))
    const source = resolveImage(this.args.ref, images, process.cwd())
    if (this.flags.sha256) source.sha256 = this.flags.sha256.toLowerCase()
    const hypervisor = await this.backend(config, 'hypervisor', {stateDir: agentDir(config)})
    let info: ImageInfo | undefined
    if (this.jsonEnabled()) {
      info = await hypervisor.ensureImage(source, () => undefined)
    } else {
      await new Listr(
        [
          {
            title: `Image ${source.ref}`,
            task: async (_: unknown, task: {title: string}) => {
              let last: string | undefined
              const report = ({percent, message}: Progress) => {
                const extra = [percent === undefined ? undefined : `${Math.round(percent)}%`, message].filter(Boolean).join(' ')
                if (message) last = extra
                task.title = extra ? `Image ${source.ref} (${extra})` : `Image ${source.ref}`
              }

              info = await hypervisor.ensureImage(source, report)
              // The last download figures stay: a log (no terminal) shows only the first and last title.
              task.title = `Image ${source.ref}${last ? ` (${last})` : ' (cached)'}`
            },
          },
        ],
        {renderer: 'default', fallbackRenderer: 'simple', fallbackRendererCondition: !process.stdout.isTTY, exitOnError: true},
      ).run()
      this.log(`${info!.path} (${info!.format}, ${(info!.virtualSizeBytes / 2 ** 30).toFixed(1)} GiB virtual${info!.sha256 ? `, sha256 ${info!.sha256}` : ''})`)
    }

    if (name === undefined) return info!
    // The name pins the bytes: a file's checksum is taken now if the pull did not check one.
    const sha256 = info!.sha256 ?? (await sha256Of(info!.path))
    const user = this.flags.user ?? images[this.args.ref]?.user
    const origin = source.url ? {url: source.url} : {path: info!.path}
    const previous = nameImage(imageNamesDir(agentDir(config)), name, {...origin, sha256, ...(user ? {user} : {}), pulled: new Date().toISOString()})
    const moved = previous && (previous.url ?? previous.path) !== (origin.url ?? origin.path) ? ` (it named ${previous.url ?? previous.path} before)` : ''
    if (!this.jsonEnabled()) this.log(`--image ${name} now means ${origin.url ?? origin.path}${moved}`)
    return {...info!, sha256, name}
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
