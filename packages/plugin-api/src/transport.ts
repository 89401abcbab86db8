// The transport carries instance records and host assignments between the
// CLI and the host agents. It is a small, revisioned key-value store with
// watches and leases (first-party: etcd). Keys are relative to the backend's
// configured prefix; values are strings (core stores JSON).
import type {Closable} from './backend.js'

export interface KeyValue {
  key: string
  value: string
  /** Store revision of the last write to this key; the CAS token. */
  modRevision: string
  createRevision: string
}

export type WatchEvent =
  | {type: 'put'; kv: KeyValue}
  | {type: 'delete'; key: string; modRevision: string}

/** One operation of an atomic multi-key write. */
export type TxnOp =
  | {op: 'put'; key: string; value: string; lease?: string}
  | {op: 'delete'; key: string}

/** A precondition of an atomic write; `modRevision: null` means "must not exist". */
export interface TxnGuard {
  key: string
  modRevision: string | null
}

export interface TxnResult {
  ok: boolean
  /** Store revision after the write (when ok). */
  revision?: string
}

export interface WatchHandle {
  close(): Promise<void>
}

export interface WatchOptions {
  /** Deliver events after this revision (exclusive); replays history first. */
  afterRevision?: string
  /** Called for each batch, in order; the next batch waits for the promise. Throwing ends the watch (see onError). */
  onEvents(events: WatchEvent[], revision: string): Promise<void> | void
  /**
   * The watch has ended for good: its history was compacted, the store
   * refused it, or onEvents threw or rejected (that error is passed on). It
   * is called at most once and nothing is delivered after it; close() is
   * still safe. The consumer lists again and watches from the listing's
   * revision. Without onError such a watch ends silently.
   */
  onError?(error: Error): void
  /** The watch re-attached after losing its connection: events may have been missed meanwhile. */
  onResumed?(): void
}

export interface Lease {
  id: string
  /** Resolves when the lease is lost (expired or revoked elsewhere). */
  lost: Promise<void>
  revoke(): Promise<void>
}

export interface TransportBackend extends Closable {
  get(key: string): Promise<KeyValue | undefined>
  /** Every key under a prefix, and the store revision the listing reflects. */
  list(prefix: string): Promise<{items: KeyValue[]; revision: string}>
  /**
   * Apply all ops if every guard holds, atomically. Never replayed by the
   * backend: a commit that fails with an error (reason 'unavailable') may or
   * may not have been applied, and a caller that asks again must recognise its
   * own earlier write when the guards then fail (core's InstanceStore does).
   */
  commit(guards: TxnGuard[], ops: TxnOp[]): Promise<TxnResult>
  /**
   * Watch a prefix; resumes after disconnects without repeating events. A
   * consumer must not rely on seeing every event: after `onResumed` (and
   * periodically) it lists again and acts on the level.
   */
  watch(prefix: string, options: WatchOptions): Promise<WatchHandle>
  /** A lease kept alive until revoked or lost; keys put with it vanish with it. */
  grantLease(ttlSeconds: number): Promise<Lease>
}
