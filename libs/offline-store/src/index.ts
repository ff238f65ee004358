export * from './segment-schema';
export * from './segment-codec.port';
export * from './hyparquet-segment-codec.adapter';
export * from './segment-codec.contract';
