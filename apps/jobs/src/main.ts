import { runAppMain } from '@featurelog/runtime';
import { jobsApp } from './jobs-app';

runAppMain(jobsApp);
