import {HostTraitChange} from '../../../hosts/change-command.js'

export default class HostTraitAdd extends HostTraitChange {
  static override summary = 'Add operator traits on a host (CUSTOM_* and other traits the agent does not report itself; they survive agent restarts).'
  static override examples = ['<%= config.bin %> host trait add host-a CUSTOM_FAST_NVME']
  protected readonly direction = 'add'
}
