// The package's entry point (package.json "main"): what core needs to run the
// metadata server on its own (`ec metadata serve`) and the backends, for tests
// and benchmarks. ec itself finds the backends through the ec-backends hook.
export {type MetadataSection, metadataSection, type MetadataSettings, resolveMetadataSettings} from './config.js'
export {ConfigDriveBackend} from './configdrive.js'
export {MetadataBackendError} from './errors.js'
export {MdserverBackend, type MdserverOptions} from './mdserver.js'
export {type MetadataServer, probeMetadataServer, type ServerSettings, SERVICE_NAME, startMetadataServer} from './server.js'
