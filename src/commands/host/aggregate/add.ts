import {HostAggregateChange} from '../../../hosts/change-command.js'

export default class HostAggregateAdd extends HostAggregateChange {
  static override summary = 'Add a host to an aggregate (a name or a uuid); shared storage in the aggregate serves its members.'
  static override examples = ['<%= config.bin %> host aggregate add host-a rack1']
  protected readonly direction = 'add'
}
