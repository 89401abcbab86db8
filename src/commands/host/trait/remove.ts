import {HostTraitChange} from '../../../hosts/change-command.js'

export default class HostTraitRemove extends HostTraitChange {
  static override summary = 'Remove operator traits from a host (CUSTOM_* and other traits the agent does not report itself; they survive agent restarts).'
  static override examples = ['<%= config.bin %> host trait remove host-a CUSTOM_FAST_NVME']
  protected readonly direction = 'remove'
}
