/** The serving app's one door (`@featurelog/app-serving`): its Nest module and its start. */
export {
  createServingApp,
  DEFAULT_SERVING_PORT,
  servingApp,
  ServingAppModule,
  type ServingAppOptions,
  type ServingAppParts,
  type ServingAppSettings,
} from './serving-app';
