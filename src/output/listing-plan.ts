// The oclif-free half of listing.ts: plan, sort and draw a listing. The fast
// path of `ec instance list` (src/startup/) uses it without loading oclif.
import {EcError} from '../errors.js'
import {colourEnabled} from './colour.js'
import {renderTable} from './table.js'

export type Cell = string | number | undefined

export interface Column<T> {
  /** Lower-case, no spaces: what --columns and --sort name. */
  name: string
  /** The value sorted on (numbers sort as numbers). */
  value(row: T): Cell
  /** How the value reads in the table; default String(value). */
  format?(value: Cell, row: T, colour: boolean): string
}

export interface ListingSpec<T> {
  columns: Array<Column<T>>
  /** What -q/--quiet prints, one a line. */
  id(row: T): string
  /** Shown when --columns is not given; default all. */
  defaultColumns?: string[]
}

export interface ListingFlags {
  columns?: string
  sort?: string
  quiet?: boolean
}

export interface ListingPlan<T> {
  spec: ListingSpec<T>
  shown: Array<Column<T>>
  order: Array<{column: Column<T>; descending: boolean}>
  quiet: boolean
}

/** Check --columns and --sort against the spec; a bad name is a usage error (exit 2). */
export function planListing<T>(spec: ListingSpec<T>, flags: ListingFlags): ListingPlan<T> {
  const byName = new Map(spec.columns.map((c) => [c.name, c]))
  const lookup = (name: string, flag: string): Column<T> => {
    const column = byName.get(name.toLowerCase())
    if (!column) {
      throw new EcError('usage', `unknown column "${name}" in --${flag}; choose from ${[...byName.keys()].join(', ')}`)
    }

    return column
  }

  const names = (list: string | undefined) => (list ?? '').split(',').map((n) => n.trim()).filter(Boolean)
  const shownNames = flags.columns === undefined ? (spec.defaultColumns ?? [...byName.keys()]) : names(flags.columns)
  if (shownNames.length === 0) throw new EcError('usage', '--columns names no column; give at least one, e.g. --columns name,state')
  const shown = shownNames.map((n) => lookup(n, 'columns'))
  const order = names(flags.sort).map((n) => ({column: lookup(n.replace(/^-/, ''), 'sort'), descending: n.startsWith('-')}))
  return {spec, shown, order, quiet: flags.quiet ?? false}
}

function compareCells(a: Cell, b: Cell, descending: boolean): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1 // blanks last either way
  const order = typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b), undefined, {numeric: true})
  return descending ? -order : order
}

/** The rows in --sort order (stable: ties keep the command's own order). */
export function sortRows<T>(rows: T[], plan: ListingPlan<T>): T[] {
  if (plan.order.length === 0) return rows
  return [...rows].sort((x, y) => {
    for (const {column, descending} of plan.order) {
      const c = compareCells(column.value(x), column.value(y), descending)
      if (c !== 0) return c
    }

    return 0
  })
}

/** The table (or the ids with --quiet) as the text to print. */
export function renderListing<T>(rows: T[], plan: ListingPlan<T>, colour = colourEnabled()): string {
  if (plan.quiet) return rows.map((r) => plan.spec.id(r)).join('\n')
  const head = plan.shown.map((c) => c.name)
  const body = rows.map((row) =>
    plan.shown.map((c) => {
      const value = c.value(row)
      if (c.format) return c.format(value, row, colour)
      return value === undefined ? undefined : String(value)
    }),
  )
  return renderTable(head, body, {colour})
}
