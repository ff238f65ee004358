/** The serving app's one door (`@featurelog/app-serving`): its Nest module and its start. */
export {
  createServingApp,
  DEFAULT_SERVING_PORT,
  ServingAppModule,
  type ServingAppOptions,
  type ServingAppParts,
} from './serving-app';
export { servingApp, type ServingAppSettings } from './serving-start';
