// Which of ec's objects a command line is asking for: the argument of
// `instance show|delete|…` is an instance, the value of --host a host, and so
// on. Commands added later get object completion by a row here.
export const OBJECT_KINDS = ['instance', 'host', 'image', 'group'] as const
export type ObjectKind = (typeof OBJECT_KINDS)[number]

/** Commands (topic and command, space-separated) whose arguments name an object. */
export const ARGUMENT_OBJECTS: Record<string, ObjectKind> = {
  'instance show': 'instance',
  'instance delete': 'instance',
  'instance console': 'instance',
  'instance watch': 'instance',
  'instance ssh': 'instance',
  'host show': 'host',
  'host disable': 'host',
  'host enable': 'host',
  'host remove': 'host',
  'image pull': 'image',
  'group show': 'group',
  'group delete': 'group',
}

/** Flags whose value names an object, on any command. */
export const FLAG_OBJECTS: Record<string, ObjectKind> = {
  '--host': 'host',
  '--image': 'image',
  '--group': 'group',
}

/**
 * A shell function, valid in bash and zsh, that prints the object kind to
 * complete for `_ec_object_kind WORD1 WORD2 PREVIOUS CURRENT`, or nothing.
 */
export function objectKindShellFunction(bin: string): string {
  const commands = Object.entries(ARGUMENT_OBJECTS)
    .map(([command, kind]) => `    "${command}") echo ${kind} ;;`)
    .join('\n')
  const flags = Object.entries(FLAG_OBJECTS)
    .map(([flag, kind]) => `    ${flag}) echo ${kind}; return ;;`)
    .join('\n')
  return `_${bin}_object_kind() {
  case "$4" in -*) return ;; esac
  case "$3" in
${flags}
    -*) case "$3" in --*=*) ;; *) return ;; esac ;;
  esac
  case "$1 $2" in
${commands}
  esac
}`
}
