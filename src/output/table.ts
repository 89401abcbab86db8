// Plain, borderless, column-aligned tables for human output (JSON output
// never goes through here).
import {createRequire} from 'node:module'

import type TableType from 'cli-table3'

import {paint} from './colour.js'

// Loaded when a table is drawn: `--json` and `-q` never draw one.
const require = createRequire(import.meta.url)
let Table: typeof TableType | undefined

const NO_BORDERS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '',
  right: '', 'right-mid': '', middle: '  ',
}

export function renderTable(
  head: string[],
  rows: Array<Array<string | number | undefined>>,
  options: {colour?: boolean} = {},
): string {
  Table ??= require('cli-table3') as typeof TableType
  const table = new Table({
    head: head.map((h) => paint('bold', h.toUpperCase(), options.colour ?? false)),
    chars: NO_BORDERS,
    style: {head: [], border: [], 'padding-left': 0, 'padding-right': 0},
  })
  for (const row of rows) table.push(row.map((cell) => (cell === undefined ? '-' : String(cell))))
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
}
