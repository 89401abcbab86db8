// Instance records over the transport contract: compare-and-swap updates on
// mod revisions, with the record, its name and its assignment written in one
// transaction wherever they must change together.
//
// Every write is safe to repeat. The transport may fail a commit that etcd
// applied (a deadline that expired on the way back), and the store asks
// again while etcd stalls; a repeat whose guard then fails checks whether the
// store holds exactly what this writer wrote (the name points to its own id;
// the record is byte-for-byte its own value) and takes that as success.
import {EcError} from '../errors.js'
import type {KeyValue, TransportBackend, TxnGuard, TxnOp, TxnResult} from '@ec/plugin-api'

import {leaveGroup} from '../groups/store.js'
import {waitOutStalls} from '../retry.js'
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

export interface StoreOptions {
  /**
   * How long to keep asking a transport that answered before and now stalls
   * (etcd frozen, restarting, electing). A transport that never answered is
   * reported at once: nothing suggests it is coming.
   */
  stallBudgetMs?: number
}

const MAX_CAS_ATTEMPTS = 50
export const DEFAULT_STALL_BUDGET_MS = 30_000

export class InstanceStore {
  private readonly stallBudgetMs: number
  /** The transport answered once: from then on a stall is waited out. */
  private reached = false

  constructor(
    readonly transport: TransportBackend,
    options: StoreOptions = {},
  ) {
    this.stallBudgetMs = options.stallBudgetMs ?? DEFAULT_STALL_BUDGET_MS
  }

  async get(id: string): Promise<Versioned<InstanceRecord> | undefined> {
    const kv = await this.read(keys.instance(id))
    return kv ? {value: JSON.parse(kv.value) as InstanceRecord, modRevision: kv.modRevision} : undefined
  }

  /** One key, read with the store's patience for stalls. */
  read(key: string): Promise<KeyValue | undefined> {
    return this.call(() => this.transport.get(key))
  }

  /** Whether the host's agent runs: its liveness key, held by its lease, is there. */
  async hostAlive(hostId: string): Promise<boolean> {
    return (await this.read(keys.alive(hostId))) !== undefined
  }

  /** Every key under a prefix, read with the store's patience for stalls. */
  readAll(prefix: string): Promise<{items: KeyValue[]; revision: string}> {
    return this.call(() => this.transport.list(prefix))
  }

  /**
   * Commit with the store's patience. A commit that failed on the way may
   * still have been applied: callers whose guards would then fail recognise
   * their own write (see create and update).
   */
  commit(guards: TxnGuard[], ops: TxnOp[]): Promise<TxnResult> {
    return this.call(() => this.transport.commit(guards, ops))
  }

  /** By uuid, else by name. */
  async find(ref: string): Promise<Versioned<InstanceRecord> | undefined> {
    if (UUID.test(ref)) {
      const byId = await this.get(ref.toLowerCase())
      if (byId) return byId
    }

    const name = await this.read(keys.name(ref))
    return name ? this.get(name.value) : undefined
  }

  async list(): Promise<{records: Array<Versioned<InstanceRecord>>; revision: string}> {
    const {items, revision} = await this.readAll(keys.instances())
    return {
      records: items.map((kv) => ({value: JSON.parse(kv.value) as InstanceRecord, modRevision: kv.modRevision})),
      revision,
    }
  }

  /** Write a new record and take its name, or fail with `conflict` if the name is taken. */
  async create(record: InstanceRecord): Promise<Versioned<InstanceRecord>> {
    const result = await this.commit(
      [
        {key: keys.instance(record.id), modRevision: null},
        {key: keys.name(record.name), modRevision: null},
      ],
      [
        {op: 'put', key: keys.instance(record.id), value: JSON.stringify(record)},
        {op: 'put', key: keys.name(record.name), value: record.id},
      ],
    )
    if (result.ok) return {value: record, modRevision: result.revision!}
    // A repeat of a commit that landed: the name is ours already.
    const name = await this.read(keys.name(record.name))
    const mine = name?.value === record.id ? await this.get(record.id) : undefined
    if (mine) return mine
    throw new EcError('conflict', `an instance named "${record.name}" already exists; pick another name or delete it first`)
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
    extra: (record: InstanceRecord) => Extra | Promise<Extra> = () => ({}),
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
      const {guards = [], ops = []} = await extra(next)
      const value = JSON.stringify(next)
      const result = await this.commit(
        [{key: keys.instance(id), modRevision: current.modRevision}, ...guards],
        [{op: 'put', key: keys.instance(id), value}, ...ops],
      )
      if (result.ok) return {value: next, modRevision: result.revision!}
      // Lost the race, or a repeat of a commit that landed: the record is then exactly ours.
      const kv = await this.read(keys.instance(id))
      if (kv?.value === value) return {value: next, modRevision: kv.modRevision}
      current = kv ? {value: JSON.parse(kv.value) as InstanceRecord, modRevision: kv.modRevision} : undefined
      if (!current) return undefined
    }

    throw new EcError('conflict', `instance ${id} changed ${MAX_CAS_ATTEMPTS} times while ec tried to update it; try again`)
  }

  /** Remove the record, its name and its assignment together; then take it out of its server group. */
  async remove(record: InstanceRecord): Promise<void> {
    const ops: TxnOp[] = [
      {op: 'delete', key: keys.instance(record.id)},
      {op: 'delete', key: keys.name(record.name)},
    ]
    if (record.host) ops.push({op: 'delete', key: keys.assignment(record.host.id, record.id)})
    await this.commit([], ops)
    await leaveGroup(this, record)
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    const result = await waitOutStalls(work, {budgetMs: this.reached ? this.stallBudgetMs : 0})
    this.reached = true
    return result
  }

  static assignmentOp(record: InstanceRecord, op: Assignment['op']): TxnOp {
    const assignment: Assignment = {id: record.id, op, at: now()}
    return {op: 'put', key: keys.assignment(record.host!.id, record.id), value: JSON.stringify(assignment)}
  }
}
