// Instance records over the transport contract: compare-and-swap updates on
// mod revisions, with the record, its name and its assignment written in one
// transaction wherever they must change together.
import {EcError} from '../errors.js'
import type {TransportBackend, TxnGuard, TxnOp} from '../plugins/transport.js'
import {keys} from './keys.js'
import {type Assignment, canTransition, type InstanceRecord, now, UUID} from './model.js'

export interface Versioned<T> {
  value: T
  modRevision: string
}

/** What an update writes beside the record, computed from the record it read. */
export interface Extra {
  guards?: TxnGuard[]
  ops?: TxnOp[]
}

const MAX_CAS_ATTEMPTS = 50

export class InstanceStore {
  constructor(readonly transport: TransportBackend) {}

  async get(id: string): Promise<Versioned<InstanceRecord> | undefined> {
    const kv = await this.transport.get(keys.instance(id))
    return kv ? {value: JSON.parse(kv.value) as InstanceRecord, modRevision: kv.modRevision} : undefined
  }

  /** By uuid, else by name. */
  async find(ref: string): Promise<Versioned<InstanceRecord> | undefined> {
    if (UUID.test(ref)) {
      const byId = await this.get(ref.toLowerCase())
      if (byId) return byId
    }

    const name = await this.transport.get(keys.name(ref))
    return name ? this.get(name.value) : undefined
  }

  async list(): Promise<{records: Array<Versioned<InstanceRecord>>; revision: string}> {
    const {items, revision} = await this.transport.list(keys.instances())
    return {
      records: items.map((kv) => ({value: JSON.parse(kv.value) as InstanceRecord, modRevision: kv.modRevision})),
      revision,
    }
  }

  /** Write a new record and take its name, or fail with `conflict` if the name is taken. */
  async create(record: InstanceRecord): Promise<Versioned<InstanceRecord>> {
    const result = await this.transport.commit(
      [
        {key: keys.instance(record.id), modRevision: null},
        {key: keys.name(record.name), modRevision: null},
      ],
      [
        {op: 'put', key: keys.instance(record.id), value: JSON.stringify(record)},
        {op: 'put', key: keys.name(record.name), value: record.id},
      ],
    )
    if (!result.ok) {
      throw new EcError('conflict', `an instance named "${record.name}" already exists; pick another name or delete it first`)
    }

    return {value: record, modRevision: result.revision!}
  }

  /**
   * Read, change, compare-and-swap; again on a lost race. `change` returns the
   * new record, or undefined to leave it as it is (the update then returns
   * undefined). A missing record returns undefined too. With `from`, the
   * first attempt trusts that version instead of reading it (a writer that
   * just wrote the record knows it); a lost race reads the current one.
   */
  async update(
    id: string,
    change: (record: InstanceRecord) => InstanceRecord | undefined,
    extra: (record: InstanceRecord) => Extra = () => ({}),
    from?: Versioned<InstanceRecord>,
  ): Promise<Versioned<InstanceRecord> | undefined> {
    let current = from
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      current ??= await this.get(id)
      if (!current) return undefined
      const next = change(structuredClone(current.value))
      if (!next) return undefined
      if (!canTransition(current.value.state, next.state)) {
        throw new EcError('conflict', `instance ${id} cannot go from ${current.value.state} to ${next.state}`)
      }

      next.updatedAt = now()
      const {guards = [], ops = []} = extra(next)
      const result = await this.transport.commit(
        [{key: keys.instance(id), modRevision: current.modRevision}, ...guards],
        [{op: 'put', key: keys.instance(id), value: JSON.stringify(next)}, ...ops],
      )
      if (result.ok) return {value: next, modRevision: result.revision!}
      current = undefined
    }

    throw new EcError('conflict', `instance ${id} changed ${MAX_CAS_ATTEMPTS} times while ec tried to update it; try again`)
  }

  /** Remove the record, its name and its assignment together. */
  async remove(record: InstanceRecord): Promise<void> {
    const ops: TxnOp[] = [
      {op: 'delete', key: keys.instance(record.id)},
      {op: 'delete', key: keys.name(record.name)},
    ]
    if (record.host) ops.push({op: 'delete', key: keys.assignment(record.host.id, record.id)})
    await this.transport.commit([], ops)
  }

  static assignmentOp(record: InstanceRecord, op: Assignment['op']): TxnOp {
    const assignment: Assignment = {id: record.id, op, at: now()}
    return {op: 'put', key: keys.assignment(record.host!.id, record.id), value: JSON.stringify(assignment)}
  }
}
