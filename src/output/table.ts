// Plain, borderless, column-aligned tables for human output (JSON output
// never goes through here).
import Table from 'cli-table3'

import {paint} from './colour.js'

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
