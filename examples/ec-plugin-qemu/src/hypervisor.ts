// The qemu hypervisor backend: each guest is a plain qemu-system-x86_64
// process the agent starts (daemonized, so it outlives the agent) and talks to
// over QMP — no libvirtd. Everything about a guest is in its own directory
// under qemu.guestsDir: its definition (guest.json: the command line and its
// forwards), disk, console log, pidfile and QMP socket. A restarted agent
// finds its guests again from those files alone.
import {execFile} from 'node:child_process'
import {copyFile, mkdir, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {basename, join} from 'node:path'

import {
  type CachedImage,
  type GuestSpec,
  type GuestSummary,
  diskStrategyTraits,
  type HostDescription,
  hostCapacity,
  hostCpuTraits,
  type HypervisorBackend,
  type ImageInfo,
  type ImageSource,
  type Logger,
  type PortForward,
  type PortRequest,
  type PreparedDisk,
  type ProgressReporter,
  type ServiceHealth,
} from '@ec/plugin-api'
import {backingFiles, diskStrategies, prepareDisk, removeSharedDisk} from '@ec/plugin-api/disks'
import {ImageStore} from '@ec/plugin-api/images'
import {PortAllocator, portTakenFailure} from '@ec/plugin-api/ports'
import {runTool} from '@ec/plugin-api/tools'

import {guestArgs, GuestPaths, stableMacAddress} from './command-line.js'
import {type QemuSettings, resolveSettings} from './config.js'
import {messageOf, QemuBackendError} from './errors.js'
import {runningQemu, waitGone} from './process.js'
import {withQmp} from './qmp.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** A unix socket's path must fit sun_path (108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107
const QUIT_TIMEOUT_MS = 10_000

/** What define() writes and start() runs. */
export interface GuestDefinition {
  id: string
  name: string
  binary: string
  args: string[]
  forwards: PortForward[]
}

export class QemuHypervisor implements HypervisorBackend {
  private readonly images: ImageStore
  private readonly ports: PortAllocator
  /** One start or destroy of a guest at a time. */
  private readonly busy = new Map<string, Promise<unknown>>()
  private version?: string

  constructor(
    readonly settings: QemuSettings,
    private readonly log?: Logger,
  ) {
    this.images = new ImageStore(settings.imageCacheDir)
    // Forwards in the guests' definitions (but the one asking again: its start found a port taken).
    this.ports = new PortAllocator(settings.forwardAddress, async (except) => (await this.definitions()).filter(({id}) => id !== except).flatMap(({forwards}) => forwards), 'qemu.forwardAddress')
  }

  static async create(section: Partial<QemuSettings>, stateDir: string, log?: Logger): Promise<QemuHypervisor> {
    const settings = resolveSettings(section, stateDir)
    const longest = join(settings.guestsDir, '00000000-0000-0000-0000-000000000000', 'qmp.sock')
    if (Buffer.byteLength(longest) > MAX_SOCKET_PATH) {
      throw new QemuBackendError('config', `qemu.guestsDir ${settings.guestsDir} is too long for the guests' QMP sockets (${Buffer.byteLength(longest)} of at most ${MAX_SOCKET_PATH} bytes); set a shorter qemu.guestsDir`)
    }

    await mkdir(settings.guestsDir, {recursive: true})
    log?.info(`qemu: guests are ${settings.binary} processes (-accel ${settings.accel}) under ${settings.guestsDir}`)
    return new QemuHypervisor(settings, log)
  }

  paths(id: string): GuestPaths {
    if (!UUID.test(id)) throw new QemuBackendError('config', `instance id "${id}" is not a UUID; the qemu backend names directories after it`)
    return new GuestPaths(join(this.settings.guestsDir, id))
  }

  ensureImage(source: ImageSource, report: ProgressReporter, signal?: AbortSignal): Promise<ImageInfo> {
    return this.images.ensure(source, report, signal)
  }

  prepareDisk(spec: GuestSpec, image: ImageInfo, report: ProgressReporter): Promise<PreparedDisk> {
    // @ec/plugin-api's overlay and copy (resize needs libguestfs: libvirt's only); on shared storage when the allocation says so.
    return prepareDisk(spec, image, {guestDir: this.paths(spec.id).dir, strategy: spec.diskStrategy ?? this.settings.diskStrategy, report})
  }

  async define(spec: GuestSpec, disk: PreparedDisk): Promise<void> {
    const paths = this.paths(spec.id)
    await mkdir(paths.dir, {recursive: true})
    if (spec.numa?.length) this.log?.warn(`qemu: ${spec.name} (${spec.id}) is not pinned to NUMA nodes ${spec.numa.map((c) => c.hostNode).join(',')}: this backend does not pin`)
    // What the guest attaches (a config drive) is copied into its directory, which destroy() removes.
    const attachments = []
    for (const [index, attachment] of (spec.attachments ?? []).entries()) {
      const inside = join(paths.dir, `attachment-${index}-${basename(attachment.path)}`)
      await copyFile(attachment.path, inside)
      attachments.push({...attachment, path: inside})
    }

    const definition: GuestDefinition = {
      id: spec.id,
      name: spec.name,
      binary: this.settings.binary,
      args: guestArgs({...spec, attachments}, disk, paths, this.settings),
      forwards: spec.forwards ?? [],
    }
    await writeFile(paths.definition + '.tmp', JSON.stringify(definition, null, 2) + '\n')
    await rename(paths.definition + '.tmp', paths.definition)
  }

  start(id: string): Promise<void> {
    return this.exclusive(id, async () => {
      const paths = this.paths(id)
      const definition = await this.definition(id)
      if (!definition) throw new QemuBackendError('notFound', `no guest ${id} is defined under ${this.settings.guestsDir}; define it before starting it`)
      if (await runningQemu(paths.pidfile, paths.qmpSocket)) {
        // Running: make sure it is not paused (starting a running guest is not an error).
        await withQmp(paths.qmpSocket, (qmp) => qmp.execute('cont')).catch(() => undefined)
        return
      }

      await rm(paths.qmpSocket, {force: true})
      await rm(paths.pidfile, {force: true})
      await new Promise<void>((resolve, reject) => {
        // -daemonize: this returns once qemu has set the guest up (or failed to), and qemu then runs on its own.
        execFile(definition.binary, definition.args, {timeout: 120_000, maxBuffer: 4 << 20}, (error, _stdout, stderr) => {
          if (!error) return resolve()
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
            return reject(new QemuBackendError('missingDependency', `${definition.binary} is not installed; install Debian's qemu-system-x86 (apt-get install qemu-system-x86) or set qemu.binary`))
          }

          // A forwarded port another program took since forwardPorts(): the build picks new ones and redefines.
          const taken = portTakenFailure(stderr)
          if (taken) return reject(taken)
          const why = stderr.trim().split('\n').find(Boolean) ?? `exit ${error.code}`
          reject(new QemuBackendError(/hostfwd/i.test(stderr) ? 'conflict' : 'failure', `qemu could not start guest ${id}: ${why}`))
        })
      })
      if (!(await runningQemu(paths.pidfile, paths.qmpSocket))) {
        throw new QemuBackendError('failure', `qemu started guest ${id} but exited at once; see ${paths.consoleLog}`)
      }
    })
  }

  destroy(id: string): Promise<void> {
    return this.exclusive(id, async () => {
      const paths = this.paths(id)
      const pid = await runningQemu(paths.pidfile, paths.qmpSocket)
      if (pid !== undefined) await this.stop(id, pid, paths)
      // Files go last: if stopping failed, a retry still finds everything to clean up.
      // A disk on shared storage first: the link to it is in the guest's directory.
      await removeSharedDisk(paths.dir, id)
      await rm(paths.dir, {recursive: true, force: true})
      this.ports.release(id)
    })
  }

  /** ACPI powerdown, then QMP quit, then SIGKILL: each waited for before the next. */
  private async stop(id: string, pid: number, paths: GuestPaths): Promise<void> {
    const graceMs = this.settings.shutdownTimeoutSeconds * 1000
    if (graceMs > 0) {
      const asked = await withQmp(paths.qmpSocket, (qmp) => qmp.execute('system_powerdown')).then(
        () => true,
        (error: unknown) => void this.log?.debug(`qemu: powerdown of ${id}: ${messageOf(error)}`),
      )
      if (asked && (await waitGone(pid, paths.qmpSocket, graceMs))) return
    }

    await withQmp(paths.qmpSocket, (qmp) => qmp.execute('quit')).catch((error: unknown) => this.log?.debug(`qemu: quit of ${id}: ${messageOf(error)}`))
    if (await waitGone(pid, paths.qmpSocket, QUIT_TIMEOUT_MS)) return
    this.log?.warn(`qemu: guest ${id} (pid ${pid}) did not quit within ${QUIT_TIMEOUT_MS / 1000} s; killing it`)
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone meanwhile
    }

    if (!(await waitGone(pid, paths.qmpSocket, QUIT_TIMEOUT_MS))) {
      throw new QemuBackendError('failure', `qemu process ${pid} of guest ${id} survived SIGKILL; is it stuck in the kernel?`)
    }
  }

  async list(): Promise<GuestSummary[]> {
    const guests: GuestSummary[] = []
    for (const id of await this.guestIds()) {
      const paths = this.paths(id)
      const definition = await this.definition(id)
      const running = (await runningQemu(paths.pidfile, paths.qmpSocket)) !== undefined
      // A directory without a definition: a crash between disk and define; destroy() cleans it.
      guests.push({id, name: definition?.name ?? '', state: running ? 'running' : 'shutoff', defined: definition !== undefined || running})
    }

    return guests
  }

  async consoleLog(id: string): Promise<string> {
    try {
      return await readFile(this.paths(id).consoleLog, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''
      throw error
    }
  }

  /** Under user networking qemu knows no address the host could reach: the guest's phone-home tells. */
  async guestAddresses(id: string): Promise<string[]> {
    this.paths(id)
    return []
  }

  forwardPorts(id: string, requested: PortRequest[]): Promise<PortForward[]> {
    this.paths(id)
    return this.ports.allocate(id, requested)
  }

  macAddress(id: string): string {
    return stableMacAddress(id)
  }

  async listImages(): Promise<CachedImage[]> {
    return this.images.list(await this.backingFilesInUse())
  }

  async pruneImages(): Promise<CachedImage[]> {
    return this.images.prune(await this.backingFilesInUse())
  }

  /** Images that some guest's disk is an overlay of. */
  private async backingFilesInUse(): Promise<Set<string>> {
    return backingFiles((await this.guestIds()).map((id) => this.paths(id).dir))
  }

  /** The machine (disk: the filesystem of the guests directory), its CPU, and what these guests get: SMBIOS, CD-ROMs, hostfwd ports; no NUMA pinning. */
  async describeHost(): Promise<HostDescription> {
    const [capacity, cpuTraits, traits] = await Promise.all([hostCapacity(this.settings.guestsDir), hostCpuTraits(), this.capabilities()])
    return {
      capacity,
      traits: [...new Set([...cpuTraits, ...traits])].sort(),
      capabilities: {diskStrategies: diskStrategies(), smbios: true, cdrom: true, portForwarding: true, numaPinning: false},
    }
  }

  async capabilities(): Promise<string[]> {
    const traits = [
      'COMPUTE_IMAGE_TYPE_QCOW2',
      'COMPUTE_IMAGE_TYPE_RAW',
      'COMPUTE_NET_VIF_MODEL_VIRTIO',
      'COMPUTE_STORAGE_BUS_VIRTIO',
      'COMPUTE_STORAGE_BUS_SCSI',
      'COMPUTE_FIRMWARE_BIOS',
      ...diskStrategyTraits(diskStrategies()),
    ]
    if (this.settings.accel === 'kvm') traits.push('CUSTOM_EC_ACCEL_KVM')
    return traits.sort()
  }

  async health(): Promise<ServiceHealth> {
    const endpoint = this.settings.binary
    try {
      const qemu = {command: this.settings.binary, debianPackage: 'qemu-system-x86', hint: 'or set qemu.binary'}
      this.version ??= (await runTool(qemu, ['--version'], {timeoutMs: 30_000})).split('\n')[0]?.trim()
      return {ok: true, endpoint, version: this.version}
    } catch (error) {
      return {ok: false, endpoint, detail: messageOf(error)}
    }
  }

  /** Guests keep running: they are not the agent's children. */
  async close(): Promise<void> {}

  private async definition(id: string): Promise<GuestDefinition | undefined> {
    try {
      return JSON.parse(await readFile(this.paths(id).definition, 'utf8')) as GuestDefinition
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new QemuBackendError('failure', `the definition of guest ${id} cannot be read: ${messageOf(error)}`)
    }
  }

  private async definitions(): Promise<GuestDefinition[]> {
    const found = []
    for (const id of await this.guestIds()) {
      const definition = await this.definition(id).catch(() => undefined)
      if (definition) found.push(definition)
    }

    return found
  }

  private async guestIds(): Promise<string[]> {
    try {
      return (await readdir(this.settings.guestsDir)).filter((entry) => UUID.test(entry))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
  }

  private exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.busy.get(id) ?? Promise.resolve()
    const run = previous.catch(() => undefined).then(work)
    const settled = run.catch(() => undefined)
    this.busy.set(id, settled)
    void settled.then(() => {
      if (this.busy.get(id) === settled) this.busy.delete(id)
    })
    return run
  }
}
