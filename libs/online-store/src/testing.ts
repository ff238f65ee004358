/**
 * @featurelog/online-store/testing: the online-store contract suite every adapter's spec runs. Kept out
 * of the production barrel (index.ts) so that loading the lib never loads node:test.
 */
export { onlineStoreContract } from './online-store.contract';
export {
  writeEmbeddedLayout1,
  writeLayout1Checkpoint,
  writeLayout1Row,
  type Layout1Checkpoint,
  type Layout1Row,
} from './layout-1.test-kit';
export {
  clusterNodes,
  killNode,
  masterOfKey,
  redisClusterUnderTest,
  waitForClusterHealthy,
  type ClusterNode,
} from './redis-cluster.test-kit';
export { keySlot } from './redis-topology';
