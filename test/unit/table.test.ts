import {expect} from 'chai'

import {renderTable} from '../../src/output/table.js'

describe('tables', () => {
  it('aligns columns by display width two spaces apart, with "-" for blanks and no trailing spaces', () => {
    const green = (s: string) => `\u001B[32m${s}\u001B[39m`
    const text = renderTable(['name', 'state', 'host'], [
      ['web-1', green('ACTIVE'), 'h1'],
      ['日本', 'ERROR', undefined],
      ['db', 'BUILDING', ''],
    ])
    expect(text.split('\n')).to.deep.equal([
      'NAME   STATE     HOST',
      `web-1  ${green('ACTIVE')}    h1`,
      '日本   ERROR     -',
      'db     BUILDING',
    ])
  })

  it('paints the head bold only when asked to', () => {
    expect(renderTable(['a'], [['1']], {colour: true})).to.equal('\u001B[1mA\u001B[22m\n1')
  })
})
