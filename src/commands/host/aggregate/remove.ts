import {HostAggregateChange} from '../../../hosts/change-command.js'

export default class HostAggregateRemove extends HostAggregateChange {
  static override summary = 'Remove a host from an aggregate (a name or a uuid); shared storage in the aggregate serves its members.'
  static override examples = ['<%= config.bin %> host aggregate remove host-a rack1']
  protected readonly direction = 'remove'
}
