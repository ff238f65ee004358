import { HyparquetSegmentCodec } from '@featurelog/offline-store';
import { segmentCodecContract } from '@featurelog/offline-store/testing';

segmentCodecContract('hyparquet, ZSTD', () => new HyparquetSegmentCodec({ compression: 'ZSTD' }));
segmentCodecContract('hyparquet, SNAPPY', () => new HyparquetSegmentCodec({ compression: 'SNAPPY' }));
