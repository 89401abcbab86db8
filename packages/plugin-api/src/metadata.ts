// The metadata backend gives each guest its identity, keys and user-data the
// way cloud-init expects. First-party: mdserver (HTTP) and a config drive.
import type {Attachment} from './hypervisor.js'
import type {Closable} from './backend.js'

export interface InstanceMetadata {
  instanceId: string
  hostname: string
  publicKeys: string[]
  userData?: string
  vendorData?: string
  meta: Record<string, string>
  /** The address the guest is known by, for address-checked layouts. */
  address?: string
  /** The MAC address of the guest's NIC, when the hypervisor sets it: OpenStack's network_data.json names it. */
  macAddress?: string
}

/** What the hypervisor must wire into the guest for it to find its data. */
export interface PublishedMetadata {
  smbios?: Record<string, string>
  attachments: Attachment[]
}

export interface PhoneHome {
  instanceId: string
  /** The address the guest said it has, or the request's source unless that was NAT'd (loopback). */
  address?: string
  hostname?: string
  /** The guest's SSH host public keys ("type base64"), as cloud-init's phone_home posts them (pub_key_*). */
  hostKeys?: string[]
  receivedAt: string
}

export interface MetadataBackend extends Closable {
  /** Whether guests can report in (phone home) through it; the agent waits for that report only then. */
  readonly phonesHome: boolean
  publish(data: InstanceMetadata): Promise<PublishedMetadata>
  /** Withdraw an instance's data. Idempotent. */
  unpublish(instanceId: string): Promise<void>
  onPhoneHome(handler: (report: PhoneHome) => void): void
  /**
   * For backends with a service of their own: run it in this process until
   * closed (`ec metadata serve`). The agent starts it by itself otherwise.
   */
  serve?(): Promise<{url: string; close(): Promise<void>}>
}
