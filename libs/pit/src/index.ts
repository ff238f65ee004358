export {
  type EntityRow,
  type HistoryRow,
  type PitView,
  compareEntityKeys,
  compareHistoryRows,
  entityRowOrder,
  sortEntityRows,
  restoreRowOrder,
} from './pit-rows';
export { pointInTimeJoin, PitJoinStats, type PointInTimeJoinOptions } from './point-in-time-join';
export { pointInTimeJoinInMemory, streamBatches, type KeyedPitView, type InMemoryJoinOptions } from './in-memory-join';
export {
  type ColumnKey,
  type HistoryColumns,
  type EntityColumns,
  type JoinHistorySourceOptions,
  ViewWinners,
  type ViewWinnersData,
  joinHistorySource,
  sortEntities,
  type EntityOrder,
} from './columnar-join';
