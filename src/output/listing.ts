// The shared shape of every command that prints a list: a table whose columns
// and order the user picks (--columns, --sort), ids only (-q/--quiet), or the
// rows as JSON (--json, oclif's flag; the command returns the rows).
//
//   static override enableJsonFlag = true
//   static override flags = {...listingFlags}
//   async run() {
//     const plan = planListing(HOST_COLUMNS, this.flags)   // bad --columns/--sort: exit 2, before any work
//     return this.printListing(await fetchRows(), plan)   // sorted; printed unless --json
//   }
import {Flags} from '@oclif/core'

export * from './listing-plan.js'

export const listingFlags = {
  columns: Flags.string({
    description: 'Table columns to show, comma-separated, in this order (names as in the header, lower case).',
    helpGroup: 'OUTPUT',
  }),
  sort: Flags.string({
    description: 'Sort by these columns, comma-separated; a leading "-" sorts descending (--sort=-created).',
    helpGroup: 'OUTPUT',
  }),
  quiet: Flags.boolean({char: 'q', description: 'Print only ids, one a line.', helpGroup: 'OUTPUT'}),
}
