export * from './segment-event-serde';
export * from './segment-log';
export * from './partition-buffer';
export * from './offline-view';
export * from './segment-writer';
export * from './segment-garbage';
export * from './view-compactor';
export * from './compactor';
