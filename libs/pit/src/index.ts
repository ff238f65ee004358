export { BatchCursor } from './batch-cursor';
export { mergeSorted, type MergeSortedOptions } from './merge-sorted';
