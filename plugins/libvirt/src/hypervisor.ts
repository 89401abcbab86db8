// The libvirt hypervisor backend: images and disks on this host's disk,
// guests as libvirt domains named `ec-<id>`. ec touches no other domain.
import {copyFile, mkdir, readdir, readFile, rm, stat} from 'node:fs/promises'
import {basename, join} from 'node:path'

import {
  type CachedImage,
  type GuestSpec,
  type GuestSummary,
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
import {backingFiles, removeSharedDisk, sharedDiskPath} from '@ec/plugin-api/disks'
import {ImageStore} from '@ec/plugin-api/images'
import {isToolFailure} from '@ec/plugin-api/tools'

import {libvirtDiskStrategies, libvirtTraits} from './capabilities.js'
import {isSystemUri, type LibvirtSection, type LibvirtSettings, resolveSettings} from './config.js'
import {checkReachableByQemu} from './qemu-access.js'
import {LibvirtConnection, type Hypervisor} from './connection.js'
import {prepareDisk} from './disks.js'
import {toGuestState} from './domain-state.js'
import {buildDomainXml, readDomainOwner, readDomainTitle, stableMacAddress} from './domain-xml.js'
import {isDomainNotFound, libvirtFailure, LibvirtBackendError, messageOf} from './errors.js'
import {forwardsInDomainXml, PortAllocator, portTakenFailure} from './ports.js'
import {assertInstanceId, domainName, instanceIdOf, InstancePaths, isInstanceId} from './naming.js'
import {leasedAddresses, libvirtVersion, undefineWithState} from './virsh.js'
import {chooseDomainType, type DomainType, isTestUri, readHostFacts} from './virt-type.js'

type Domain = Awaited<ReturnType<Hypervisor['domainLookupByName']>>

const ALREADY_RUNNING = /already (running|active)/i
const NOT_RUNNING = /not running|domain is not active/i

export class LibvirtHypervisor implements HypervisorBackend {
  readonly paths: InstancePaths
  private readonly images: ImageStore
  private readonly ports: PortAllocator
  private version?: Promise<string | undefined>

  constructor(
    readonly settings: LibvirtSettings,
    readonly domainType: DomainType,
    private readonly connection: LibvirtConnection = new LibvirtConnection(settings.uri),
  ) {
    this.paths = new InstancePaths(settings.instancesDir)
    this.images = new ImageStore(settings.imageCacheDir)
    this.ports = new PortAllocator(settings.forwardAddress, (except) => this.definedForwards(except), 'libvirt.forwardAddress')
  }

  static async create(section: Partial<LibvirtSection>, stateDir: string, log?: Logger): Promise<LibvirtHypervisor> {
    const settings = resolveSettings(section, stateDir)
    if (isSystemUri(settings.uri)) {
      for (const [dir, key] of [
        [settings.instancesDir, 'libvirt.instancesDir'],
        [settings.imageCacheDir, 'libvirt.imageCacheDir'],
      ] as const) {
        await mkdir(dir, {recursive: true, mode: 0o755})
        await checkReachableByQemu(dir, key)
      }
    }

    const choice = chooseDomainType(settings.virtType, settings.uri, await readHostFacts())
    log?.info(`libvirt: guests are <domain type='${choice.type}'>: ${choice.why}`)
    return new LibvirtHypervisor(settings, choice.type)
  }

  async ensureImage(source: ImageSource, report: ProgressReporter, signal?: AbortSignal): Promise<ImageInfo> {
    const image = await this.images.ensure(source, report, signal)
    // An overlay reads its image as the backing file: the daemon's qemu user must reach it too.
    if (isSystemUri(this.settings.uri)) await checkReachableByQemu(image.path, `the image ${source.ref}`)
    return image
  }

  async prepareDisk(spec: GuestSpec, image: ImageInfo, report: ProgressReporter): Promise<PreparedDisk> {
    // A missing directory is reported by prepareDisk itself.
    if (spec.storageDir && isSystemUri(this.settings.uri) && (await stat(spec.storageDir).catch(() => undefined))) {
      await checkReachableByQemu(sharedDiskPath(spec.storageDir, spec.id), 'the shared storage directory')
    }

    return prepareDisk(spec, image, spec.diskStrategy ?? this.settings.diskStrategy, this.paths, report, {
      partition: this.settings.resizePartition,
      // libguestfs boots its appliance the way guests boot here: TCG unless KVM is usable.
      forceTcg: this.domainType !== 'kvm',
    })
  }

  async define(spec: GuestSpec, disk: PreparedDisk): Promise<void> {
    // virtlogd creates the console log but not the directory it goes in.
    await mkdir(this.paths.dir(spec.id), {recursive: true})
    const attachments = await this.bringAttachments(spec)
    const xml = buildDomainXml({
      spec: {...spec, attachments},
      disk,
      domainType: this.domainType,
      network: this.settings.network,
      consoleLogPath: this.paths.consoleLog(spec.id),
      owner: this.paths.instancesDir,
    })
    try {
      await this.connection.run((hypervisor) => hypervisor.domainDefineXML(xml))
    } catch (error) {
      throw this.defineFailure(spec.id, error)
    }
  }

  /**
   * Copy what the guest attaches (a config drive…) into its own directory:
   * qemu can reach that one (checked at start), and destroy() removes it.
   */
  private async bringAttachments(spec: GuestSpec): Promise<GuestSpec['attachments']> {
    const attachments = []
    for (const [index, attachment] of (spec.attachments ?? []).entries()) {
      const inside = join(this.paths.dir(spec.id), `attachment-${index}-${basename(attachment.path)}`)
      await copyFile(attachment.path, inside)
      attachments.push({...attachment, path: inside})
    }

    return attachments
  }

  async start(id: string): Promise<void> {
    assertInstanceId(id)
    await this.withLibvirt(`start ${domainName(id)}`, async (hypervisor) => {
      const domain = await this.lookup(hypervisor, id)
      if (!domain) throw new LibvirtBackendError('notFound', `no guest ${domainName(id)} is defined on ${this.settings.uri}; define it before starting it`)
      try {
        const {state} = await domain.getInfo()
        const guestState = toGuestState(state)
        if (guestState === 'running') return
        if (guestState === 'paused') await domain.resume()
        else await domain.create()
      } catch (error) {
        if (ALREADY_RUNNING.test(messageOf(error))) return
        throw portTakenFailure(error) ?? error
      }
    })
  }

  async destroy(id: string): Promise<void> {
    assertInstanceId(id)
    await this.withLibvirt(`remove ${domainName(id)}`, async (hypervisor) => {
      const domain = await this.lookup(hypervisor, id)
      if (domain) await this.removeDomain(domain, id)
    })
    // Files go last: if libvirt failed, a retry still finds everything to clean up.
    // A disk on shared storage first: the link to it is in the instance directory.
    await removeSharedDisk(this.paths.dir(id), id)
    await rm(this.paths.dir(id), {recursive: true, force: true})
    this.ports.release(id)
  }

  /**
   * Under user networking the host reaches a guest only through forwarded
   * ports. On the test driver no guest runs, so nothing would listen: none.
   */
  async forwardPorts(id: string, requested: PortRequest[]): Promise<PortForward[]> {
    assertInstanceId(id)
    if (this.settings.network.mode !== 'user' || isTestUri(this.settings.uri)) return []
    return this.ports.allocate(id, requested)
  }

  macAddress(id: string): string {
    return stableMacAddress(id)
  }

  /** The forwards every ec domain on this connection is defined with (but `except`'s own). */
  private async definedForwards(except?: string): Promise<PortForward[]> {
    return this.withLibvirt('list forwarded ports', async (hypervisor) => {
      const forwards: PortForward[] = []
      for (const domain of await hypervisor.connectListAllDomains()) {
        try {
          const id = instanceIdOf(await domain.getName())
          if (id && id !== except) forwards.push(...forwardsInDomainXml(await domain.getXMLDesc()))
        } catch (error) {
          if (!isDomainNotFound(error)) throw error
        }
      }

      return forwards
    })
  }

  async list(): Promise<GuestSummary[]> {
    return this.withLibvirt('list domains', async (hypervisor) => {
      const guests: GuestSummary[] = []
      for (const domain of await hypervisor.connectListAllDomains()) {
        try {
          const id = instanceIdOf(await domain.getName())
          if (!id) continue
          const xml = await domain.getXMLDesc()
          // Another agent's guest on a shared libvirtd (its own state directory) is not ours to report or remove.
          const owner = readDomainOwner(xml)
          if (owner !== undefined && owner !== this.paths.instancesDir) continue
          const {state} = await domain.getInfo()
          guests.push({id, name: readDomainTitle(xml), state: toGuestState(state), defined: true})
        } catch (error) {
          if (!isDomainNotFound(error)) throw error // one undefined meanwhile is simply gone
        }
      }

      // Files without a domain: a crash between disk and define, or a domain lost outside ec.
      const known = new Set(guests.map((g) => g.id))
      for (const id of await this.instanceDirIds()) {
        if (!known.has(id)) guests.push({id, name: '', state: 'shutoff', defined: false})
      }

      return guests
    })
  }

  /**
   * The machine's capacity (disk: the filesystem of the instances directory)
   * and CPU traits, libvirt's traits, and what ec's domain XML gives guests:
   * SMBIOS, CD-ROMs, NUMA pinning, and forwarded ports under user networking.
   */
  async describeHost(): Promise<HostDescription> {
    const [capacity, cpuTraits, diskStrategies] = await Promise.all([
      hostCapacity(this.settings.instancesDir),
      hostCpuTraits(),
      libvirtDiskStrategies(),
    ])
    return {
      capacity,
      traits: [...new Set([...cpuTraits, ...libvirtTraits(this.domainType, diskStrategies)])].sort(),
      capabilities: {diskStrategies, smbios: true, cdrom: true, portForwarding: this.settings.network.mode === 'user', numaPinning: true},
    }
  }

  async listImages(): Promise<CachedImage[]> {
    return this.images.list(await this.backingFilesInUse())
  }

  async pruneImages(): Promise<CachedImage[]> {
    return this.images.prune(await this.backingFilesInUse())
  }

  /** Images that some guest's disk on this host is an overlay of. */
  private async backingFilesInUse(): Promise<Set<string>> {
    return backingFiles((await this.instanceDirIds()).map((id) => this.paths.dir(id)))
  }

  private async instanceDirIds(): Promise<string[]> {
    try {
      return (await readdir(this.paths.instancesDir)).filter((entry) => isInstanceId(entry))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
  }

  async consoleLog(id: string): Promise<string> {
    try {
      return await readFile(this.paths.consoleLog(id), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''
      throw error
    }
  }

  async guestAddresses(id: string): Promise<string[]> {
    assertInstanceId(id)
    // Only a libvirt network hands out (and so knows) addresses; test:/// state is private to our connection.
    if (this.settings.network.mode !== 'network' || isTestUri(this.settings.uri)) return []
    try {
      return await leasedAddresses(this.settings.uri, domainName(id))
    } catch (error) {
      if (isToolFailure(error)) return [] // no such domain, or the network is down: nothing known
      throw error
    }
  }

  async health(): Promise<ServiceHealth> {
    const endpoint = this.settings.uri
    try {
      await this.connection.run((hypervisor) => hypervisor.connectGetHostname())
    } catch (error) {
      return {ok: false, endpoint, detail: messageOf(error)}
    }

    this.version ??= libvirtVersion(endpoint).catch(() => undefined)
    return {ok: true, endpoint, version: await this.version}
  }

  close(): Promise<void> {
    return this.connection.close()
  }

  /** Run on the connection; whatever escapes unclassified becomes one line saying what ec was doing. */
  private async withLibvirt<T>(doing: string, call: (hypervisor: Hypervisor) => Promise<T>): Promise<T> {
    try {
      return await this.connection.run(call)
    } catch (error) {
      throw libvirtFailure(doing, error)
    }
  }

  private async lookup(hypervisor: Hypervisor, id: string): Promise<Domain | undefined> {
    try {
      return await hypervisor.domainLookupByName(domainName(id))
    } catch (error) {
      if (isDomainNotFound(error)) return undefined
      throw error
    }
  }

  /** Stop (if running) and undefine; each step tolerates the domain vanishing or already being in the target state. */
  private async removeDomain(domain: Domain, id: string): Promise<void> {
    try {
      await domain.destroy()
    } catch (error) {
      if (!NOT_RUNNING.test(messageOf(error)) && !isDomainNotFound(error)) throw error
    }

    try {
      await domain.undefine()
    } catch (error) {
      if (isDomainNotFound(error)) return // transient: destroying it removed it
      // The binding's undefine takes no flags; virsh's drops managed save, snapshots, NVRAM and TPM state too.
      if (isTestUri(this.settings.uri)) throw error
      await undefineWithState(this.settings.uri, domainName(id))
    }
  }

  private defineFailure(id: string, error: unknown): Error {
    if (error instanceof LibvirtBackendError) return error
    const message = messageOf(error)
    if (/already exists with uuid/i.test(message)) {
      return new LibvirtBackendError('conflict', `libvirt already has a domain ${domainName(id)} with another UUID; ec did not make it: ${message}`, {cause: error})
    }

    if (/domaintype=|emulator .* does not support|could not find capabilities/i.test(message)) {
      return new LibvirtBackendError('config', `libvirt cannot run <domain type='${this.domainType}'> guests on ${this.settings.uri}: ${message}; set libvirt.virtType`, {cause: error})
    }

    return libvirtFailure(`define ${domainName(id)}`, error)
  }
}
