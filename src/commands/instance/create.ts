import {Args, Flags} from '@oclif/core'

import {amountFlag} from '../../input/amount-flag.js'
import type {InstanceRecord} from '../../instances/model.js'
import {EcError} from '../../errors.js'
import type {GroupPlacement} from '../../groups/store.js'
import {InstanceStore} from '../../instances/store.js'
import {progressDisplay} from '../../output/create-progress.js'
import {describeInstance} from '../../output/instance-view.js'
import {StepTracker} from '../../output/step-tracker.js'
import {createAndFollow, createSpecOf, openGroup} from '../../scheduling/create-flow.js'
import {resourceRequestOf} from '../../scheduling/request.js'
import {renderTable} from '../../output/table.js'
import type {Candidate, CandidatePreview, ResourceRequest, SchedulerBackend} from '@ec/plugin-api'
import {EcCommand} from '../../ec-command.js'

export default class InstanceCreate extends EcCommand<typeof InstanceCreate> {
  static override summary = 'Create an instance: claim resources on a host, hand it the assignment, and follow the build.'
  static override description = `Resources come from a --flavor, from flags, or from etcd-compute's raw form 'resources=VCPU:1,MEMORY_MB:512,DISK_GB:1&required=TRAIT,!FORBIDDEN&member_of=in:AGG1,AGG2' (later sources win). With --wait (the default on a terminal) it shows each step until the instance is ACTIVE; it exits 0 then, 7 when no host has room, 11 when the build ends in ERROR.`
  static override examples = [
    '<%= config.bin %> instance create web1 --flavor small --image debian',
    '<%= config.bin %> instance create --vcpus 2 --memory 2048 --disk 20 --image ./disk.qcow2 --trait HW_CPU_X86_AVX2',
    "<%= config.bin %> instance create 'resources=VCPU:1,DISK_GB:1,MEMORY_MB:512&required=HW_CPU_X86_AVX2' --image debian",
  ]
  static override enableJsonFlag = true
  static override args = {
    name: Args.string({description: 'Instance name (default: inst-<id prefix>), or the raw resource request.'}),
    request: Args.string({description: "Raw resource request, e.g. 'resources=VCPU:1,MEMORY_MB:512,DISK_GB:1'."}),
  }
  static override flags = {
    flavor: Flags.string({description: 'A flavor from config (flavors:).'}),
    vcpus: amountFlag({description: 'Virtual CPUs (VCPU), 1 to 2147483647.'}),
    memory: amountFlag({description: 'Memory in MiB (MEMORY_MB), 1 to 2147483647.'}),
    disk: amountFlag({description: 'Root disk in GiB (DISK_GB), 1 to 2147483647.'}),
    image: Flags.string({description: 'A configured image name, a name given by `ec image pull --name`, an http(s) URL, or a path to a disk image.'}),
    trait: Flags.string({description: 'Required trait (repeatable).', multiple: true}),
    'forbid-trait': Flags.string({description: 'Forbidden trait (repeatable).', multiple: true}),
    'member-of': Flags.string({description: 'Aggregates by uuid or name: "A,B" or "in:A,B" any of them, "!A" or "!in:A,B" none of them (repeatable; and-ed).', multiple: true}),
    'in-tree': Flags.string({description: 'Only this host (name or id) and its providers.'}),
    'root-trait': Flags.string({description: 'Trait the host itself must have; "!T" forbids it (repeatable).', multiple: true}),
    'numa-nodes': Flags.integer({description: 'Take VCPU and memory from this many NUMA nodes, an equal share from each (0: from anywhere in the host).', default: 1}),
    'disk-from': Flags.option({options: ['shared', 'local', 'any'] as const, description: 'Disk from shared storage, from the host, or either (default any).'})(),
    'group-resources': Flags.string({description: 'A request group whose resources come from one provider: NAME=RC:N,RC:N (repeatable).', multiple: true}),
    'group-policy': Flags.option({options: ['isolate', 'none'] as const, description: 'isolate: each group from a different provider; none: they may share.'})(),
    group: Flags.string({description: 'Join this server group (ec group create); its policy decides which hosts may take the instance.'}),
    'dry-run': Flags.boolean({description: 'Print the query and the candidates Placement returns, each with whether its host\'s agent runs, in the order create tries them; claim nothing (exit 7 when none fits).'}),
    'disk-strategy': Flags.option({options: ['overlay', 'copy', 'resize'] as const, description: 'How the host prepares the disk (default: the host\'s config).'})(),
    policy: Flags.option({options: ['pack', 'spread'] as const, description: 'Placement policy (default: placement.policy).'})(),
    'key-file': Flags.string({description: 'OpenSSH public key file for the guest, at most 64 KiB (repeatable; default: metadata.defaultPublicKeys).', multiple: true}),
    'user-data': Flags.string({description: 'User-data file for cloud-init, any format (limit: scheduling.maxUserDataBytes).'}),
    meta: Flags.string({description: 'Custom metadata KEY=VALUE (repeatable); the guest sees it in every metadata layout.', multiple: true}),
    publish: Flags.string({char: 'p', description: 'Forward a host port to a guest port, HOST_PORT:GUEST_PORT[/tcp|udp] (repeatable; HOST_PORT 0 = any free port).', multiple: true}),
    wait: Flags.boolean({allowNo: true, description: 'Follow the build until ACTIVE (default: on when stdout is a terminal).'}),
  }

  async run(): Promise<InstanceRecord | CandidatePreview> {
    const config = await this.effectiveConfig()
    const {name, spec} = createSpecOf(this.args, this.flags, config)
    // Short-lived: etcd is reached over plain HTTP/2 (reads, writes and the watch), never through the gRPC client.
    const store = new InstanceStore(await this.backend(config, 'transport', {shortLived: true}))
    if (this.flags['dry-run']) {
      return this.dryRun(resourceRequestOf(spec), await this.backend(config, 'scheduler'), store, await openGroup(store, spec))
    }

    const group = await openGroup(store, spec)
    const scheduler = await this.backend(config, 'scheduler')
    const json = this.jsonEnabled()
    const wait = this.flags.wait ?? (Boolean(process.stdout.isTTY) && !json)
    const tracker = new StepTracker()
    const display = wait && !json ? progressDisplay(tracker, Boolean(process.stdout.isTTY)) : undefined
    const shown = display?.run().catch(() => undefined)
    let record: InstanceRecord
    try {
      record = await createAndFollow(name, spec, {store, group, scheduler, policy: this.flags.policy, config, wait, tracker})
    } finally {
      await shown
    }

    if (!display) this.log(describeInstance(record))
    else this.log(`${record.name} (${record.id}) is ${record.state} on ${record.host?.name}`)
    return record
  }

  private async dryRun(request: ResourceRequest, scheduler: SchedulerBackend, store: InstanceStore, group?: GroupPlacement): Promise<DryRunPreview> {
    if (!scheduler.previewCandidates) throw new EcError('usage', 'the configured scheduler backend cannot preview candidates')
    // With a group: the candidates its policy allows, in its order of preference.
    const constraints = await group?.constraints(request)
    const found = await scheduler.previewCandidates(constraints?.request ?? request)
    if (constraints?.accept) found.candidates = found.candidates.filter((c) => constraints.accept!(c.hostId))
    if (constraints?.prefer) found.candidates.sort((a, b) => constraints.prefer!(a.hostId) - constraints.prefer!(b.hostId))
    // As create would: hosts whose agent runs first (a down one is taken only when no live one has room).
    const hostIds = [...new Set(found.candidates.map((c) => c.hostId))]
    const up = new Map(await Promise.all(hostIds.map(async (id) => [id, await store.hostAlive(id)] as const)))
    const candidates = found.candidates.map((c) => ({...c, agentUp: up.get(c.hostId) === true}))
    const preview: DryRunPreview = {...found, candidates: [...candidates.filter((c) => c.agentUp), ...candidates.filter((c) => !c.agentUp)]}
    if (!this.jsonEnabled()) {
      this.log(`GET /allocation_candidates?${preview.query}`)
      const rows = preview.candidates.flatMap((c) => c.providers.map((p) => [c.hostName, c.agentUp ? 'up' : 'down', p.name, formatAmounts(p.resources)]))
      this.log(renderTable(['host', 'agent', 'provider', 'resources'], rows))
    }

    if (preview.candidates.length === 0) {
      const error = new EcError('noCapacity', `no host can take it (query: ${preview.query})`)
      throw group ? group.explain(error) : error
    }

    return preview
  }
}

/** The candidates Placement returned, each with whether its host's agent runs. */
type DryRunPreview = Omit<CandidatePreview, 'candidates'> & {candidates: Array<Candidate & {agentUp: boolean}>}

function formatAmounts(resources: Record<string, number>): string {
  return Object.entries(resources)
    .map(([rc, amount]) => `${rc}:${amount}`)
    .join(',')
}
