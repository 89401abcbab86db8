import {Args, Flags} from '@oclif/core'
import {Listr} from 'listr2'

import {agentDir, agentStateDirFlag} from '../../agent/agent-dir.js'
import {stateDirOverride} from '../../control-plane/from-config.js'
import {EcCommand} from '../../ec-command.js'
import type {ImageInfo, Progress} from '@ec/plugin-api'
import {resolveImage} from '../../scheduling/request.js'

export default class ImagePull extends EcCommand<typeof ImagePull> {
  static override summary = "Fetch an image into this host's cache ahead of time, showing the download's progress."
  static override description = `REF is a configured image name, an http(s) URL or a disk image file. A URL is downloaded once into the host's cache (the agent's --state-dir decides where) and checked; a later create on this host starts from the cached copy. A file is inspected where it lies, as a create would. With --json, one line at the end: the image's path, format, size and sha256.`
  static override examples = ['<%= config.bin %> image pull https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2', '<%= config.bin %> image pull debian --json']
  static override enableJsonFlag = true
  static override args = {ref: Args.string({description: 'A configured image name, an http(s) URL, or a path to a disk image.', required: true})}
  static override flags = {
    sha256: Flags.string({description: "The image's expected sha256 (a configured image's own is used otherwise)."}),
    'state-dir': agentStateDirFlag,
  }

  /** One line, for scripts that read the last line. */
  public override logJson(json: unknown): void {
    process.stdout.write(JSON.stringify(json) + '\n')
  }

  async run(): Promise<ImageInfo> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const source = resolveImage(this.args.ref, config.values.images, process.cwd())
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

    return info!
  }
}
