/**
 * @featurelog/offline-store/testing: the segment-codec contract suite and its every-type rows. Kept out
 * of the production barrel (index.ts) so that loading the lib never loads node:test.
 */
export * from './segment-codec.contract';
export * from './segment-catalog.test-kit';
