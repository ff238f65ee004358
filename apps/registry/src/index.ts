/** The registry app's one door (`@featurelog/app-registry`): its Nest module and its start. */
export { RegistryAppModule } from './registry.module';
export { DEFAULT_REGISTRY_PORT, registryApp, type RegistryAppSettings } from './registry-app';
