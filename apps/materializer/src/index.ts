/** The materializer app's one door (`@featurelog/app-materializer`): its Nest module and its start. */
export { MaterializerAppModule } from './materializer.module';
export { DEFAULT_MATERIALIZER_PORT, materializerApp, type MaterializerAppSettings } from './materializer-app';
