import {expect} from 'chai'

import {EcError} from '../../src/errors.js'
import {type ListingSpec, planListing, renderListing, sortRows} from '../../src/output/listing.js'

interface Row {
  id: string
  name: string
  size?: number
}

const SPEC: ListingSpec<Row> = {
  id: (r) => r.id,
  columns: [
    {name: 'name', value: (r) => r.name},
    {name: 'id', value: (r) => r.id},
    {name: 'size', value: (r) => r.size, format: (v) => `${v}G`},
  ],
  defaultColumns: ['name', 'size'],
}
const ROWS: Row[] = [
  {id: 'a1', name: 'web10', size: 10},
  {id: 'a2', name: 'web9', size: 2},
  {id: 'a3', name: 'db', size: undefined},
]

describe('lists (--columns, --sort, --quiet)', () => {
  it('shows the default columns, or the chosen ones in their order', () => {
    expect(renderListing(ROWS, planListing(SPEC, {}), false).split('\n')[0]).to.equal('NAME   SIZE')
    expect(renderListing(ROWS, planListing(SPEC, {columns: 'id, name'}), false).split('\n')).to.deep.equal([
      'ID  NAME',
      'a1  web10',
      'a2  web9',
      'a3  db',
    ])
  })

  it('sorts numbers as numbers, names naturally, blanks last, descending with a leading -', () => {
    const names = (sort: string) => sortRows(ROWS, planListing(SPEC, {sort})).map((r) => r.name)
    expect(names('size')).to.deep.equal(['web9', 'web10', 'db'])
    expect(names('-size')).to.deep.equal(['web10', 'web9', 'db'])
    expect(names('name')).to.deep.equal(['db', 'web9', 'web10'])
  })

  it('prints ids only with --quiet, and nothing for no rows', () => {
    expect(renderListing(ROWS, planListing(SPEC, {quiet: true}), true)).to.equal('a1\na2\na3')
    expect(renderListing([], planListing(SPEC, {quiet: true}), true)).to.equal('')
  })

  it('refuses an unknown column as a usage error that lists the known ones', () => {
    for (const flags of [{columns: 'name,colour'}, {sort: '-colour'}, {columns: ' , '}]) {
      expect(() => planListing(SPEC, flags)).to.throw(EcError).with.property('reason', 'usage')
    }

    expect(() => planListing(SPEC, {sort: 'colour'})).to.throw(/choose from name, id, size/)
  })

  it('makes headers bold only when colour is on', () => {
    expect(renderListing(ROWS, planListing(SPEC, {}), true)).to.include('\u001B[1mNAME')
    expect(renderListing(ROWS, planListing(SPEC, {}), false)).to.not.include('\u001B')
  })
})
