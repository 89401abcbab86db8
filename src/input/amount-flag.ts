// The oclif flag for a resource amount, apart from amount.ts so code that only
// checks amounts, such as the create fast path, never loads oclif.
import {Flags} from '@oclif/core'

import {parseAmount} from './amount.js'

/** An oclif flag for a resource amount (oclif's integer flag rounds past 2^53 and has no upper bound). */
export const amountFlag = Flags.custom<number>({
  async parse(input, _context, options) {
    return parseAmount(input, `--${options.name}`)
  },
})
