/** The compactor app's one door (`@featurelog/app-compactor`): its Nest module and its start. */
export { CompactorAppModule } from './compactor.module';
export {
  compactorApp,
  DEFAULT_COMPACTOR_PORT,
  tuningFromEnv,
  type CompactorAppSettings,
  type CompactorTuning,
} from './compactor-app';
