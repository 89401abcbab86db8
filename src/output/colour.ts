// Colour only where a person reads it: on a terminal, and never when NO_COLOR
// is set to anything but "" (https://no-color.org).
import {styleText} from 'node:util'

export function colourEnabled(stream: {isTTY?: boolean} = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  return stream.isTTY === true
}

type Style = Parameters<typeof styleText>[0]

/** `text` in `style` when colour is on, else as it is. */
export function paint(style: Style, text: string, on = colourEnabled()): string {
  // validateStream: false — the decision is colourEnabled()'s, made for the stream the text goes to.
  return on ? styleText(style, text, {validateStream: false}) : text
}

const STATE_STYLES: Record<string, Style> = {ACTIVE: 'green', ERROR: 'red', DELETING: 'yellow', PENDING: 'yellow'}

/** An instance state, coloured by how it is doing. */
export function paintState(state: string, on = colourEnabled()): string {
  const style = STATE_STYLES[state.split(' ')[0]]
  return style ? paint(style, state, on) : state
}
