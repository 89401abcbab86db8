import {Flags} from '@oclif/core'

import {auditOnce, type Checked} from '../audit/audit.js'
import type {Finding} from '../audit/findings.js'
import {isRepairable, type Repair, repairFindings} from '../audit/repair.js'
import {EcCommand} from '../ec-command.js'
import {ExitCode} from '../errors.js'
import {InstanceStore} from '../instances/store.js'
import {escapeControlCharacters} from '../output/escape.js'
import {renderTable} from '../output/table.js'

export interface AuditReport {
  consistent: boolean
  checked: Checked
  /** What the audit found (before any repair). */
  findings: Finding[]
  /** What --repair did. */
  repaired: Repair[]
  /** With --repair: what a second pass still finds. */
  remaining?: Finding[]
}

export default class Audit extends EcCommand<typeof Audit> {
  static override summary = 'Compare etcd records, Placement allocations and the hosts\' guests; report (and with --repair fix) every inconsistency.'
  static override description = `Exit 0 when consistent, 12 when inconsistencies are found (after --repair: when some remain). --repair releases allocations without record and those of ERROR records, deletes stale PENDING records and orphan name and assignment keys, fails records without allocation to ERROR, finishes deletes and fails builds stuck on dead hosts. Guests are removed by their hosts' agents, not by the audit.`
  static override examples = ['<%= config.bin %> audit', '<%= config.bin %> audit --repair', '<%= config.bin %> audit --json']
  static override enableJsonFlag = true
  static override flags = {
    repair: Flags.boolean({description: 'Fix what can be fixed safely and print what was done.'}),
    'stuck-after': Flags.integer({
      min: 1,
      default: 60,
      description: 'Seconds a SCHEDULED, BUILDING or DELETING record may sit unchanged on a dead host before it counts as stuck.',
    }),
  }

  async run(): Promise<AuditReport> {
    const config = await this.effectiveConfig()
    const transport = await this.backend(config, 'transport')
    const scheduler = await this.backend(config, 'scheduler')
    const check = () => ({now: new Date(), stuckAfterSeconds: this.flags['stuck-after']})
    const first = await auditOnce({scheduler, transport}, check())
    const report: AuditReport = {consistent: first.findings.length === 0, checked: first.checked, findings: first.findings, repaired: []}

    if (this.flags.repair && first.findings.length > 0) {
      const store = new InstanceStore(transport)
      report.repaired = await repairFindings(first.findings, {
        store,
        scheduler,
        check: check(),
        deleteTimeoutSeconds: config.values.scheduling.deleteTimeoutSeconds,
      })
      const second = await auditOnce({scheduler, transport}, check())
      report.remaining = second.findings
      report.consistent = second.findings.length === 0
    }

    this.print(report)
    if (!report.consistent) process.exitCode = ExitCode.inconsistent
    return report
  }

  private print(report: AuditReport): void {
    const {checked} = report
    if (report.findings.length === 0) {
      this.log(`consistent: ${checked.instances} instances, ${checked.hosts} hosts, ${checked.allocations} allocations checked`)
      return
    }

    // Details quote what etcd and the hosts hold, which anyone with write access could have put there.
    const rows = report.findings.map((f) => [f.kind, f.id, f.host, f.detail].map((cell) => cell && escapeControlCharacters(cell)))
    this.log(renderTable(['kind', 'id', 'host', 'detail'], rows))
    if (!this.flags.repair) {
      const fixable = report.findings.filter((f) => isRepairable(f.kind)).length
      this.log(`${report.findings.length} inconsistencies${fixable ? `; ${fixable} can be fixed with --repair` : ''}`)
      return
    }

    for (const repair of report.repaired) this.log(`repaired: ${escapeControlCharacters(repair.action)}`)
    const remaining = report.remaining ?? []
    this.log(
      remaining.length === 0
        ? `consistent after repair: ${report.repaired.length} repairs`
        : `${remaining.length} inconsistencies remain after repair (guests are removed by their hosts' agents): ${remaining.map((f) => f.kind).join(', ')}`,
    )
  }
}
