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
export { type HistoryRow, compareHistoryRows } from './history-row';
