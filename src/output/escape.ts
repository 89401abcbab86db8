// User input echoed in a message must not drive the terminal: an ESC or a C1
// control character in a name would otherwise recolour, move or retitle it.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/g

/** `text` with every control character written as a \uXXXX escape. */
export function escapeControlCharacters(text: string): string {
  return text.replaceAll(CONTROL, (c) => escapeOne(c))
}

/** `text` in double quotes, control characters escaped: for echoing user input. */
export function quote(text: string): string {
  return `"${escapeControlCharacters(text)}"`
}

function escapeOne(character: string): string {
  switch (character) {
    case '\n': {
      return String.raw`\n`
    }

    case '\t': {
      return String.raw`\t`
    }

    case '\r': {
      return String.raw`\r`
    }

    default: {
      return String.raw`\u` + character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')
    }
  }
}

export function hasControlCharacters(text: string): boolean {
  return new RegExp(CONTROL.source).test(text)
}
