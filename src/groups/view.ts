// A server group as `ec group show` and `ec group list` present it: the
// policy, and the members whose instance exists, with its state and host.
import type {InstanceRecord, InstanceState} from '../instances/model.js'
import type {GroupPolicy, GroupRecord} from './model.js'

export interface GroupView {
  id: string
  name: string
  policy: GroupPolicy
  soft: boolean
  maxPerHost?: number
  createdAt: string
  members: Array<{id: string; name: string; state: InstanceState; host: {id: string; name: string}}>
  /** Member ids whose instance is gone (a teardown that died before leaving the group). */
  stale: string[]
}

export function viewOf(group: GroupRecord, records: Map<string, InstanceRecord | undefined>): GroupView {
  const members: GroupView['members'] = []
  const stale: string[] = []
  for (const [id, member] of Object.entries(group.members)) {
    const record = records.get(id)
    if (record) members.push({id, name: record.name, state: record.state, host: member.host})
    else stale.push(id)
  }

  members.sort((a, b) => a.name.localeCompare(b.name))
  return {id: group.id, name: group.name, policy: group.policy, soft: group.soft, maxPerHost: group.maxPerHost, createdAt: group.createdAt, members, stale}
}
