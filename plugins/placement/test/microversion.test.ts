// Version arithmetic is pure; negotiation against a real server is in client.test.ts.
import {expect} from 'chai'

import {compareMicroversions, negotiateMicroversion, parseMicroversion} from '../src/microversion.js'

describe('microversion negotiation', () => {
  it('compares minor versions as numbers', () => {
    expect(compareMicroversions(parseMicroversion('1.10')!, parseMicroversion('1.9')!)).to.be.greaterThan(0)
  })

  it('asks for the server maximum, capped at 1.39', () => {
    expect(negotiateMicroversion(parseMicroversion('1.30')!)).to.deep.equal({major: 1, minor: 30})
    expect(negotiateMicroversion(parseMicroversion('1.45')!)).to.deep.equal({major: 1, minor: 39})
  })

  it('rejects what is not a microversion', () => {
    expect(parseMicroversion('latest')).to.equal(undefined)
  })
})
