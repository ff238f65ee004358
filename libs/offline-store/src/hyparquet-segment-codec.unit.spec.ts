import { HyparquetSegmentCodec, segmentCodecContract } from '@featurelog/offline-store';

segmentCodecContract('hyparquet, ZSTD', () => new HyparquetSegmentCodec({ compression: 'ZSTD' }));
segmentCodecContract('hyparquet, SNAPPY', () => new HyparquetSegmentCodec({ compression: 'SNAPPY' }));
