import { runAppMain } from '@featurelog/runtime';
import { materializerApp } from './materializer-app';

runAppMain(materializerApp, () =>
  // A process that replaces a killed one can take a group of its own rather than wait out the dead
  // member's session timeout: start offsets come from the checkpoint, not from the group.
  process.env.FEATURELOG_MATERIALIZER_GROUP_ID
    ? { tuning: { groupId: process.env.FEATURELOG_MATERIALIZER_GROUP_ID } }
    : {},
);
