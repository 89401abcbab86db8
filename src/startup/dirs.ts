// Where oclif keeps ec's cache and data, found without oclif by the paths
// bin/run.js serves itself (src/startup/).
import {homedir} from 'node:os'
import {join} from 'node:path'

/** oclif's own rules: EC_CACHE_DIR and EC_DATA_DIR, else XDG, else under ~. */
export function dirs(env: NodeJS.ProcessEnv): {cacheDir: string; dataDir: string} {
  const home = env.HOME ?? homedir()
  return {
    cacheDir: env.EC_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(home, '.cache'), 'ec'),
    dataDir: env.EC_DATA_DIR ?? join(env.XDG_DATA_HOME ?? join(home, '.local', 'share'), 'ec'),
  }
}
