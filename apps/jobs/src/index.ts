/** The jobs app's one door (`@featurelog/app-jobs`): its Nest module and its start. */
export { JobsAppModule } from './jobs.module';
export { DEFAULT_JOBS_PORT, jobsApp, type JobsAppSettings } from './jobs-app';
