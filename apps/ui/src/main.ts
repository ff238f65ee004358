import { runAppMain } from '@featurelog/runtime';
import { uiApp } from './ui-app';

runAppMain(uiApp);
