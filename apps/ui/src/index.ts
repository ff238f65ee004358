/** The web UI app's one door (`@featurelog/app-ui`): its Nest module and its start. */
export { UiAppModule } from './ui.module';
export { configuredAppUrls, DEFAULT_UI_PORT, uiApp, uiOrigins, type UiAppSettings } from './ui-app';
