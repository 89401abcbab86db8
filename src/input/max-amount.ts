// Apart from amount.ts so the config schema can name it without loading oclif.

/** The largest amount of any resource class Placement accepts (2^31 - 1). */
export const MAX_AMOUNT = 2_147_483_647
