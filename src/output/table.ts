// Plain, borderless, column-aligned tables for human output (JSON output
// never goes through here): a bold upper-case head, columns two spaces apart,
// "-" for a blank cell. Aligned by display width (string-width: colour codes
// take no room, wide characters two). cli-table3 drew these before; its
// layout pass spent about a second on a 1,000-instance list.
import stringWidth from 'string-width'

import {paint} from './colour.js'

const GAP = 2

export function renderTable(
  head: string[],
  rows: Array<Array<string | number | undefined>>,
  options: {colour?: boolean} = {},
): string {
  const lines = [
    head.map((h) => paint('bold', h.toUpperCase(), options.colour ?? false)),
    ...rows.map((row) => row.map((cell) => (cell === undefined ? '-' : String(cell)))),
  ]
  const widths = lines.map((line) => line.map((cell) => stringWidth(cell)))
  // A loop, not Math.max(...column): spreading 100,000 rows would overflow the call's arguments.
  const columns = head.map((_, i) => widths.reduce((widest, w) => Math.max(widest, w[i] ?? 0), 0))
  return lines
    .map((line, l) =>
      line
        .map((cell, i) => (i === line.length - 1 ? cell : cell + ' '.repeat(columns[i] - widths[l][i] + GAP)))
        .join('')
        .trimEnd(),
    )
    .join('\n')
}
