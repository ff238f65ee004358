export * from './registry-codec.port';
export * from './provisioner.port';
export * from './registry-follower';
export * from './registry-applier';
export * from './registry-state-store';
export * from './log-provisioner.adapter';
